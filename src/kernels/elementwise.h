#pragma once
#include <cstdint>

namespace longctx::kernels {

// out (n) = a + b (out may alias a or b). The residual connection; its backward
// passes the gradient through unchanged to both inputs (add_inplace).
void residual_forward(float* out, const float* a, const float* b, int64_t n);
// y (n) += x.
void add_inplace(float* y, const float* x, int64_t n);
// y (n) *= s.
void scale_inplace(float* y, float s, int64_t n);
// Sum of squares in double (for global gradient norms).
double sum_squares(const float* x, int64_t n);

}  // namespace longctx::kernels
