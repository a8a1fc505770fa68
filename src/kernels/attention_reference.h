// Naive causal grouped-query attention in double: the scores and softmax of
// each query row are materialised (O(T_kv) per row), no tiling, no SIMD. The
// reference the tiled float kernels are tested against, and the attention of
// the double-precision reference model.
//
// Same layouts and semantics as kernels/attention.h: q (B, T_q, H, D);
// k, v (B, T_kv, Hkv, D) with batches kv_batch_stride apart (0 = dense);
// query row i sits at absolute position T_kv - T_q + i and sees keys
// 0..that position; query head h reads kv head h / (H / Hkv); segment_ids
// (B, T_kv) or null restricts attention to keys of the query's segment;
// scale 0 means 1/sqrt(D).
#pragma once
#include <cstdint>

#include "kernels/attention.h"

namespace longctx::kernels::ref {

// out (B, T_q, H, D) =; lse (B, H, T_q) = natural-log log-sum-exp of the scaled
// scores of each row (may be null).
void attention_forward(double* out, double* lse, const double* q, const double* k,
                       const double* v, const AttentionShape& shape,
                       const int32_t* segment_ids = nullptr);

// Gradients of sum(dout * out) for out = attention_forward(q, k, v):
// dq (B, T_q, H, D) =; dk, dv (B, T_kv, Hkv, D) = (dense, batch stride
// T_kv*Hkv*D even when k/v use a larger kv_batch_stride), summed over the
// query heads sharing each kv head. Recomputes the softmax from q, k, so it
// needs neither out nor lse.
void attention_backward(double* dq, double* dk, double* dv, const double* dout, const double* q,
                        const double* k, const double* v, const AttentionShape& shape,
                        const int32_t* segment_ids = nullptr);

}  // namespace longctx::kernels::ref
