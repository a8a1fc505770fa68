// Internal to the attention kernels: the checked AttentionShape turned into
// strides, the effective scale and the tile grid. Shared by the tiled kernels
// (attention_forward.cpp, attention_backward.cpp) and the double reference
// (attention_reference.cpp), so all three accept and reject the same shapes.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/attention.h"

namespace longctx::kernels::attention_detail {

struct AttentionGeometry {
  int64_t B = 0, T_q = 0, T_kv = 0;
  int64_t H = 0, H_kv = 0, G = 0, D = 0;  // G = query heads per kv head
  int64_t q_row = 0;       // floats between consecutive positions of q/out/dq (H*D)
  int64_t kv_row = 0;      // floats between consecutive positions of k/v (H_kv*D)
  int64_t kv_batch = 0;    // floats between batches of k/v (>= T_kv*kv_row)
  int64_t dkv_batch = 0;   // floats between batches of dk/dv (always T_kv*kv_row)
  int64_t pos_offset = 0;  // absolute position of query row 0: T_kv - T_q
  double scale = 0.0;      // softmax scale applied to q.k
};

// Validates `s` and derives the geometry; `op` names the caller in errors.
inline AttentionGeometry make_attention_geometry(const AttentionShape& s, const char* op) {
  LONGCTX_CHECK(s.B >= 1, "%s: shape.B must be >= 1, got %lld", op, static_cast<long long>(s.B));
  LONGCTX_CHECK(s.T_q >= 0 && s.T_kv >= s.T_q,
                "%s: need 0 <= shape.T_q <= shape.T_kv, got T_q=%lld T_kv=%lld", op,
                static_cast<long long>(s.T_q), static_cast<long long>(s.T_kv));
  LONGCTX_CHECK(s.n_heads >= 1 && s.n_kv_heads >= 1 && s.n_heads % s.n_kv_heads == 0,
                "%s: shape.n_heads (%d) must be a positive multiple of shape.n_kv_heads (%d)", op,
                s.n_heads, s.n_kv_heads);
  LONGCTX_CHECK(s.head_dim >= 1, "%s: shape.head_dim must be >= 1, got %d", op, s.head_dim);
  LONGCTX_CHECK(std::isfinite(s.scale), "%s: shape.scale must be finite", op);
  AttentionGeometry g;
  g.B = s.B;
  g.T_q = s.T_q;
  g.T_kv = s.T_kv;
  g.H = s.n_heads;
  g.H_kv = s.n_kv_heads;
  g.G = g.H / g.H_kv;
  g.D = s.head_dim;
  g.q_row = g.H * g.D;
  g.kv_row = g.H_kv * g.D;
  g.dkv_batch = g.T_kv * g.kv_row;
  g.kv_batch = s.kv_batch_stride == 0 ? g.dkv_batch : s.kv_batch_stride;
  LONGCTX_CHECK(g.kv_batch >= g.dkv_batch,
                "%s: shape.kv_batch_stride (%lld) is smaller than T_kv*n_kv_heads*head_dim (%lld)",
                op, static_cast<long long>(s.kv_batch_stride), static_cast<long long>(g.dkv_batch));
  g.pos_offset = g.T_kv - g.T_q;
  g.scale = s.scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(g.D)) : static_cast<double>(s.scale);
  return g;
}

}  // namespace longctx::kernels::attention_detail
