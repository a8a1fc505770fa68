#include "kernels/elementwise.h"

#include <algorithm>
#include <vector>

#include "kernels/vec_math.h"

namespace longctx::kernels {

constexpr int64_t kParallelMin = 1 << 16;  // below this, threads cost more than they save

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void add_inplace(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* y, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

// Fixed blocks independent of the thread count, block sums added in block order:
// the result is bit-identical for any number of threads.
double sum_squares(const float* x, int64_t n) {
  constexpr int64_t kBlock = 1 << 15;
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
  if (n_blocks <= 1) return vec::sum_squares_f64(x, n);
  std::vector<double> partial(static_cast<size_t>(n_blocks));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t i0 = b * kBlock;
    partial[static_cast<size_t>(b)] = vec::sum_squares_f64(x + i0, std::min(kBlock, n - i0));
  }
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

}  // namespace longctx::kernels
