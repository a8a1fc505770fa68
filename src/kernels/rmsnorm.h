#pragma once
#include <cstdint>

namespace longctx::kernels {

// out (N, C) = x * rstd * weight, rstd (N) = 1 / sqrt(mean(x^2) + eps) (saved for backward).
void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int64_t N,
                     int64_t C, float eps);
// dx (N, C) = (or += when accumulate), dweight (C) +=.
void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x,
                      const float* weight, const float* rstd, int64_t N, int64_t C,
                      bool accumulate = false);

}  // namespace longctx::kernels
