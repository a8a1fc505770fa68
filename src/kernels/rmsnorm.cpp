// RMSNorm, compiled once per SIMD target (Highway foreach_target) and dispatched
// at run time to the best one this CPU runs (kernels/simd.h).
#include "kernels/rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/rmsnorm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void rmsnorm_forward_target(float* out, float* rstd, const float* x, const float* weight,
                            int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > (1 << 15))
  for (int64_t n = 0; n < N; ++n) {
    const float* xr = x + n * C;
    const double ms = vec::sum_squares_f64(xr, C) / static_cast<double>(C);
    const float r = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
    rstd[n] = r;
    float* o = out + n * C;
    for (int64_t c = 0; c < C; ++c) o[c] = xr[c] * r * weight[c];
  }
}

// dx_j = r (w_j g_j - x_j r^2 mean_i(g_i w_i x_i)); dweight_j += sum_n g_nj x_nj r_n.
void rmsnorm_backward_target(float* dx, float* dweight, const float* dout, const float* x,
                             const float* weight, const float* rstd, int64_t N, int64_t C,
                             bool accumulate) {
  const bool par = N * C > (1 << 15);
#pragma omp parallel if (par)
  {
    std::vector<float> gw(static_cast<size_t>(C));  // (C) g * w of the current row
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * C;
      const float* g = dout + n * C;
      for (int64_t c = 0; c < C; ++c) gw[static_cast<size_t>(c)] = g[c] * weight[c];
      const double mean = vec::dot_f64(gw.data(), xr, C) / static_cast<double>(C);
      const float r = rstd[n];
      const float k = static_cast<float>(mean * static_cast<double>(r) * r);
      float* d = dx + n * C;
      if (accumulate) {
        for (int64_t c = 0; c < C; ++c) d[c] += r * (gw[static_cast<size_t>(c)] - xr[c] * k);
      } else {
        for (int64_t c = 0; c < C; ++c) d[c] = r * (gw[static_cast<size_t>(c)] - xr[c] * k);
      }
    }
  }
  // dweight: disjoint column blocks per thread, rows summed in order in double.
  constexpr int64_t kBlock = 64;
  const int64_t n_blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    double acc[kBlock] = {};
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * C;
      const float* g = dout + n * C;
      const float r = rstd[n];
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += static_cast<double>(g[c] * xr[c] * r);
    }
    for (int64_t c = c0; c < c1; ++c) dweight[c] += static_cast<float>(acc[c - c0]);
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(rmsnorm_forward_target);
HWY_EXPORT(rmsnorm_backward_target);

void rmsnorm_forward(float* out, float* rstd, const float* x, const float* weight, int64_t N,
                     int64_t C, float eps) {
  HWY_DYNAMIC_DISPATCH(rmsnorm_forward_target)(out, rstd, x, weight, N, C, eps);
}

void rmsnorm_backward(float* dx, float* dweight, const float* dout, const float* x,
                      const float* weight, const float* rstd, int64_t N, int64_t C,
                      bool accumulate) {
  HWY_DYNAMIC_DISPATCH(rmsnorm_backward_target)(dx, dweight, dout, x, weight, rstd, N, C,
                                                accumulate);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
