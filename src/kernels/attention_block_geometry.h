// Internal to the block attention kernels: the checked AttentionBlockShape turned into
// strides and the effective scale, shared by the tiled forward and backward and the double
// reference so that all three accept and reject the same shapes.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "kernels/attention_block.h"

namespace longctx::kernels::attention_detail {

struct BlockGeometry {
  int64_t T_q = 0, T_kv = 0;
  int64_t H = 0, H_kv = 0, G = 0, D = 0;  // G = query heads per kv head
  int64_t q_row = 0;                      // floats between positions of q/out/dq (H*D)
  int64_t kv_row = 0;                     // floats between positions of k/v/dk/dv (H_kv*D)
  int64_t lse_stride = 0;                 // floats between heads of lse (>= T_q)
  double scale = 0.0;                     // softmax scale applied to q.k
};

inline BlockGeometry make_block_geometry(const AttentionBlockShape& s, const int32_t* q_segments,
                                         const int32_t* k_segments, const char* op) {
  LONGCTX_CHECK(s.T_q >= 0 && s.T_kv >= 0,
                "%s: shape.T_q (%lld) and shape.T_kv (%lld) must be >= 0", op,
                static_cast<long long>(s.T_q), static_cast<long long>(s.T_kv));
  LONGCTX_CHECK(s.n_heads >= 1 && s.n_kv_heads >= 1 && s.n_heads % s.n_kv_heads == 0,
                "%s: shape.n_heads (%d) must be a positive multiple of shape.n_kv_heads (%d)", op,
                s.n_heads, s.n_kv_heads);
  LONGCTX_CHECK(s.head_dim >= 1, "%s: shape.head_dim must be >= 1, got %d", op, s.head_dim);
  LONGCTX_CHECK(std::isfinite(s.scale), "%s: shape.scale must be finite", op);
  LONGCTX_CHECK(s.lse_stride == 0 || s.lse_stride >= s.T_q,
                "%s: shape.lse_stride (%lld) is smaller than shape.T_q (%lld)", op,
                static_cast<long long>(s.lse_stride), static_cast<long long>(s.T_q));
  LONGCTX_CHECK((q_segments == nullptr) == (k_segments == nullptr),
                "%s: q_segments and k_segments must be both null or both given", op);
  BlockGeometry g;
  g.T_q = s.T_q;
  g.T_kv = s.T_kv;
  g.H = s.n_heads;
  g.H_kv = s.n_kv_heads;
  g.G = g.H / g.H_kv;
  g.D = s.head_dim;
  g.q_row = g.H * g.D;
  g.kv_row = g.H_kv * g.D;
  g.lse_stride = s.lse_stride == 0 ? s.T_q : s.lse_stride;
  g.scale =
      s.scale == 0.0f ? 1.0 / std::sqrt(static_cast<double>(g.D)) : static_cast<double>(s.scale);
  return g;
}

}  // namespace longctx::kernels::attention_detail
