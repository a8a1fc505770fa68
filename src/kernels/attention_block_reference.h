// Naive double-precision block attention (kernels/attention_block.h): the scores and softmax
// of each query row over the block's visible keys are materialised, no tiling, no SIMD. The
// reference the tiled float block kernels are tested against. Same layouts and semantics as
// attention_block.h, including merging (shape.merge) and rows that see no key.
#pragma once
#include <cstdint>

#include "kernels/attention_block.h"

namespace longctx::kernels::ref {

// out (T_q, H, D) and lse (H, lse_stride): = or merged, as attention_block_forward.
void attention_block_forward(double* out, double* lse, const double* q, const double* k,
                             const double* v, const AttentionBlockShape& shape,
                             const int32_t* q_segments = nullptr,
                             const int32_t* k_segments = nullptr);

// dq (T_q, H, D) +=; dk, dv (T_kv, Hkv, D) += this block's part of the gradient of
// sum(dout * out), given the final out and lse of the rows, as attention_block_backward.
void attention_block_backward(double* dq, double* dk, double* dv, const double* dout,
                              const double* out, const double* lse, const double* q,
                              const double* k, const double* v, const AttentionBlockShape& shape,
                              const int32_t* q_segments = nullptr,
                              const int32_t* k_segments = nullptr);

}  // namespace longctx::kernels::ref
