// Internal to the attention kernels: a checked AttentionShape (attention.h) or
// AttentionBlockShape (attention_block.h) turned into one geometry, the strides,
// the effective scale and where the queries sit relative to the keys. The tiled
// forward and backward (attention_forward-inl.h, attention_backward-inl.h) serve
// both public kernels through it, and the double references use the same checks,
// so kernels and references accept and reject the same shapes.
//
// The causal kernels and the block kernels differ only in where query row 0 sits:
// keys are at positions 0..T_kv-1 and a query at position p sees keys 0..p (of
// its segment). Causal attention puts query row 0 at T_kv - T_q; a key block that
// lies wholly before its queries puts it at T_kv, so every key is visible.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/attention_block.h"

namespace longctx::kernels::attention_detail {

struct AttentionGeometry {
  int64_t B = 0, T_q = 0, T_kv = 0;
  int64_t H = 0, H_kv = 0, G = 0, D = 0;  // G = query heads per kv head
  int64_t q_row = 0;       // floats between consecutive positions of q/out/dq (H*D)
  int64_t kv_row = 0;      // floats between consecutive positions of k/v (H_kv*D)
  int64_t kv_batch = 0;    // floats between batches of k/v (>= T_kv*kv_row)
  int64_t dkv_batch = 0;   // floats between batches of dk/dv (always T_kv*kv_row)
  int64_t pos_offset = 0;  // position of query row 0: T_kv - T_q (causal) or T_kv (block)
  int64_t lse_stride = 0;  // floats between the lse rows of consecutive (batch, head) (>= T_q)
  double scale = 0.0;      // softmax scale applied to q.k
  bool bf16_products = false;  // the shape's bf16_products
};

// The checks and fields both shapes share.
inline void check_heads_and_scale(int n_heads, int n_kv_heads, int head_dim, float scale,
                                  const char* op) {
  LONGCTX_CHECK(n_heads >= 1 && n_kv_heads >= 1 && n_heads % n_kv_heads == 0,
                "%s: shape.n_heads (%d) must be a positive multiple of shape.n_kv_heads (%d)", op,
                n_heads, n_kv_heads);
  LONGCTX_CHECK(head_dim >= 1, "%s: shape.head_dim must be >= 1, got %d", op, head_dim);
  LONGCTX_CHECK(std::isfinite(scale), "%s: shape.scale must be finite", op);
}

inline AttentionGeometry make_geometry(int64_t B, int64_t T_q, int64_t T_kv, int n_heads,
                                       int n_kv_heads, int head_dim, float scale) {
  AttentionGeometry g;
  g.B = B;
  g.T_q = T_q;
  g.T_kv = T_kv;
  g.H = n_heads;
  g.H_kv = n_kv_heads;
  g.G = g.H / g.H_kv;
  g.D = head_dim;
  g.q_row = g.H * g.D;
  g.kv_row = g.H_kv * g.D;
  g.dkv_batch = g.T_kv * g.kv_row;
  g.kv_batch = g.dkv_batch;
  g.lse_stride = g.T_q;
  g.scale = scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(g.D)) : static_cast<double>(scale);
  return g;
}

// Validates the causal shape `s` and derives the geometry; `op` names the caller in errors.
inline AttentionGeometry make_attention_geometry(const AttentionShape& s, const char* op) {
  LONGCTX_CHECK(s.B >= 1, "%s: shape.B must be >= 1, got %lld", op, static_cast<long long>(s.B));
  LONGCTX_CHECK(s.T_q >= 0 && s.T_kv >= s.T_q,
                "%s: need 0 <= shape.T_q <= shape.T_kv, got T_q=%lld T_kv=%lld", op,
                static_cast<long long>(s.T_q), static_cast<long long>(s.T_kv));
  check_heads_and_scale(s.n_heads, s.n_kv_heads, s.head_dim, s.scale, op);
  AttentionGeometry g =
      make_geometry(s.B, s.T_q, s.T_kv, s.n_heads, s.n_kv_heads, s.head_dim, s.scale);
  if (s.kv_batch_stride != 0) g.kv_batch = s.kv_batch_stride;
  LONGCTX_CHECK(g.kv_batch >= g.dkv_batch,
                "%s: shape.kv_batch_stride (%lld) is smaller than T_kv*n_kv_heads*head_dim (%lld)",
                op, static_cast<long long>(s.kv_batch_stride), static_cast<long long>(g.dkv_batch));
  g.pos_offset = g.T_kv - g.T_q;
  g.bf16_products = s.bf16_products;
  return g;
}

// Validates the block shape `s` and its segment arguments and derives the geometry (one
// sequence, B = 1, every key before every query); `op` names the caller in errors.
inline AttentionGeometry make_block_geometry(const AttentionBlockShape& s,
                                             const int32_t* q_segments, const int32_t* k_segments,
                                             const char* op) {
  LONGCTX_CHECK(s.T_q >= 0 && s.T_kv >= 0,
                "%s: shape.T_q (%lld) and shape.T_kv (%lld) must be >= 0", op,
                static_cast<long long>(s.T_q), static_cast<long long>(s.T_kv));
  check_heads_and_scale(s.n_heads, s.n_kv_heads, s.head_dim, s.scale, op);
  LONGCTX_CHECK(s.lse_stride == 0 || s.lse_stride >= s.T_q,
                "%s: shape.lse_stride (%lld) is smaller than shape.T_q (%lld)", op,
                static_cast<long long>(s.lse_stride), static_cast<long long>(s.T_q));
  LONGCTX_CHECK((q_segments == nullptr) == (k_segments == nullptr),
                "%s: q_segments and k_segments must be both null or both given", op);
  AttentionGeometry g =
      make_geometry(1, s.T_q, s.T_kv, s.n_heads, s.n_kv_heads, s.head_dim, s.scale);
  if (s.lse_stride != 0) g.lse_stride = s.lse_stride;
  g.pos_offset = g.T_kv;
  g.bf16_products = s.bf16_products;
  return g;
}

}  // namespace longctx::kernels::attention_detail
