// Small SIMD building blocks for the kernels' hot loops, compiled once per
// Highway target: a kernel file that includes this after <hwy/foreach_target.h>
// gets one copy per target in longctx::kernels::HWY_NAMESPACE::vec and picks the
// best one at run time (see simd.h). Every reduction walks the array in one
// fixed order with a fixed lane layout, so results are bit-identical from run
// to run on one machine (the lane count, and so the rounding, differs between
// targets).
//
// Per-target include guard (Highway's -inl.h pattern): the body is compiled
// again for every target foreach_target.h re-includes the kernel file for.
#if defined(LONGCTX_KERNELS_VEC_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_VEC_MATH_INL_H_
#undef LONGCTX_KERNELS_VEC_MATH_INL_H_
#else
#define LONGCTX_KERNELS_VEC_MATH_INL_H_
#endif

#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::vec {

namespace hn = hwy::HWY_NAMESPACE;

// sum_i a_i * b_i, products and sums in double (floats promoted lane-wise).
inline double dot_f64(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // half-width float vector, same lane count
  const int64_t L = static_cast<int64_t>(hn::Lanes(dd));
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    acc0 = hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(df, a + i)), hn::PromoteTo(dd, hn::LoadU(df, b + i)), acc0);
    acc1 = hn::MulAdd(hn::PromoteTo(dd, hn::LoadU(df, a + i + L)),
                      hn::PromoteTo(dd, hn::LoadU(df, b + i + L)), acc1);
  }
  double s = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

inline double sum_squares_f64(const float* x, int64_t n) { return dot_f64(x, x, n); }

// max_i x_i (n >= 1).
inline float max_value(const float* x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  float m = x[0];
  int64_t i = 0;
  if (n >= L) {
    auto acc = hn::LoadU(d, x);
    for (i = L; i + L <= n; i += L) acc = hn::Max(acc, hn::LoadU(d, x + i));
    m = hn::GetLane(hn::MaxOfLanes(d, acc));
  }
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// x_i = exp(x_i - shift) in place; returns sum_i of the new x_i, accumulated in double.
// Arguments below Highway's lower bound (-104) give 0, which is what softmax wants.
inline double exp_shift_sum(float* x, int64_t n, float shift) {
  const hn::ScalableTag<float> d;
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> dfh;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t Lh = static_cast<int64_t>(hn::Lanes(dd));
  const auto vs = hn::Set(d, shift);
  auto acc = hn::Zero(dd);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vs));
    hn::StoreU(e, d, x + i);
    for (int64_t h = 0; h < L; h += Lh) acc = hn::Add(acc, hn::PromoteTo(dd, hn::LoadU(dfh, x + i + h)));
  }
  double s = hn::GetLane(hn::SumOfLanes(dd, acc));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    s += static_cast<double>(x[i]);
  }
  return s;
}

// sig (n) = 1 / (1 + exp(-g)). The exponent is clamped to 88 so exp stays finite
// (sigmoid is then below 1e-38 anyway).
inline void sigmoid(float* sig, const float* g, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f), hi = hn::Set(d, 88.0f);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(d, hn::Min(hn::Neg(hn::LoadU(d, g + i)), hi));
    hn::StoreU(hn::Div(one, hn::Add(one, e)), d, sig + i);
  }
  for (; i < n; ++i) sig[i] = 1.0f / (1.0f + std::exp(std::min(-g[i], 88.0f)));
}

}  // namespace longctx::kernels::HWY_NAMESPACE::vec
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
