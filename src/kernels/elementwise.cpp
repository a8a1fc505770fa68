// Elementwise kernels, compiled once per SIMD target (the plain loops are
// vectorised by the compiler for each target's width) and dispatched at run time.
#include "kernels/elementwise.h"

#include <algorithm>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

constexpr int64_t kParallelMin = 1 << 16;  // below this, threads cost more than they save

void residual_forward_target(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void add_inplace_target(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace_target(float* y, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

// Fixed blocks independent of the thread count, block sums added in block order:
// the result is bit-identical for any number of threads.
double sum_squares_target(const float* x, int64_t n) {
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

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(residual_forward_target);
HWY_EXPORT(add_inplace_target);
HWY_EXPORT(scale_inplace_target);
HWY_EXPORT(sum_squares_target);

void residual_forward(float* out, const float* a, const float* b, int64_t n) {
  HWY_DYNAMIC_DISPATCH(residual_forward_target)(out, a, b, n);
}
void add_inplace(float* y, const float* x, int64_t n) {
  HWY_DYNAMIC_DISPATCH(add_inplace_target)(y, x, n);
}
void scale_inplace(float* y, float s, int64_t n) {
  HWY_DYNAMIC_DISPATCH(scale_inplace_target)(y, s, n);
}
double sum_squares(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(sum_squares_target)(x, n);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
