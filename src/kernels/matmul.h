#pragma once
#include <cstdint>

#include "kernels/gemm.h"

namespace longctx::kernels {

// g through the engine matmul_engine() names (own GEMM or the BLAS library), as given
// (fp32 unless g.bf16_inputs; bf16 inputs and typed B rows always take the own engine,
// the BLAS library has neither). For products outside a Linear layer's three, e.g. the
// inference prefill over typed weights.
void gemm_by_engine(const GemmArgs& g);

// out (N, M) = x (N, K) @ w (M, K)^T   (w is stored like a PyTorch Linear weight).
// accumulate: out += instead of out =.
void matmul_forward(float* out, const float* x, const float* w, int64_t N, int64_t K, int64_t M,
                    bool accumulate = false);
// dx (N, K) = dout @ w (or += when accumulate_dx); dw (M, K) += dout^T @ x.
// Either of dx / dw may be null to skip it.
void matmul_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t K, int64_t M, bool accumulate_dx = false);

}  // namespace longctx::kernels
