#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/adamw.h"
#include "kernels/reference.h"
#include "kernels/testing.h"
#include "kernels/simd_testing.h"

namespace longctx::kernels {
namespace {

// Runs once per compiled SIMD target this CPU supports (simd_testing.h).
class ElementwiseSimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(ElementwiseSimd);

using testing::convert;

TEST_P(ElementwiseSimd, ResidualAddScaleMatchReference) {
  for (int64_t n : {1, 7, 100003}) {  // the last crosses the OpenMP threshold
    auto a = testing::random_normal<float>(n, 1), b = testing::random_normal<float>(n, 2);
    std::vector<float> out(n);
    std::vector<double> rout(n);
    auto ad = convert<double>(a), bd = convert<double>(b);
    residual_forward(out.data(), a.data(), b.data(), n);
    ref::residual_forward(rout.data(), ad.data(), bd.data(), n);
    EXPECT_LT(testing::max_rel_error(out, rout), 1e-7);  // one rounding per element
    residual_forward(a.data(), a.data(), b.data(), n);   // out may alias a
    EXPECT_EQ(testing::max_abs_diff(a, out), 0.0);
    add_inplace(a.data(), b.data(), n);
    for (int64_t i = 0; i < n; ++i) rout[i] += bd[i];
    EXPECT_LT(testing::max_rel_error(a, rout), 1e-7);
    scale_inplace(a.data(), -0.5f, n);
    for (auto& r : rout) r *= -0.5;
    EXPECT_LT(testing::max_rel_error(a, rout), 1e-7);
  }
}

TEST_P(ElementwiseSimd, SumSquaresInDoubleAndThreadCountIndependent) {
  const int64_t n = 300001;  // several 32768-element blocks plus a tail
  auto x = testing::random_normal<float>(n, 3, 10.0);
  auto xd = convert<double>(x);
  const double ref_ss = ref::sum_squares(xd.data(), n);
  const int saved = num_threads();
  set_num_threads(1);
  const double s1 = sum_squares(x.data(), n);
  set_num_threads(2);
  const double s2 = sum_squares(x.data(), n);
  set_num_threads(saved);
  EXPECT_LT(std::fabs(s1 - ref_ss) / ref_ss, 1e-12);  // double accumulation of exact squares
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(sum_squares(x.data(), 0), 0.0);
  EXPECT_NEAR(sum_squares(x.data(), 5), ref::sum_squares(xd.data(), 5), 1e-9);
}

TEST(AdamW, MatchesReferenceOverSteps) {
  const int64_t n = 1001;
  AdamWParams hp;
  hp.lr = 1e-2f;
  hp.weight_decay = 0.1f;
  auto p = testing::random_normal<float>(n, 10);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  auto pd = convert<double>(p);
  std::vector<double> md(n, 0.0), vd(n, 0.0);
  for (int64_t step = 1; step <= 5; ++step) {
    auto g = testing::random_normal<float>(n, 100 + step);
    auto gd = convert<double>(g);
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, hp, step);
    ref::adamw_update(pd.data(), gd.data(), md.data(), vd.data(), n, hp, step);
  }
  EXPECT_LT(testing::max_rel_error(p, pd), 1e-6);
  EXPECT_LT(testing::max_rel_error(m, md), 1e-6);
  EXPECT_LT(testing::max_rel_error(v, vd), 1e-6);
}

// Step 1 with bias correction moves every parameter by lr * sign(g) (+ decoupled decay
// lr * wd * p), whatever the gradient's magnitude.
TEST(AdamW, FirstStepIsSignUpdateWithDecoupledDecay) {
  AdamWParams hp;
  hp.lr = 0.01f;
  hp.weight_decay = 0.5f;
  hp.eps = 0.0f;
  std::vector<float> p = {1.0f, -2.0f, 3.0f}, g = {1e-3f, 5.0f, -70.0f}, m(3, 0.0f), v(3, 0.0f);
  const auto p0 = p;
  adamw_update(p.data(), g.data(), m.data(), v.data(), 3, hp, 1);
  for (int i = 0; i < 3; ++i) {
    const float expect = p0[i] - hp.lr * ((g[i] > 0 ? 1.0f : -1.0f) + hp.weight_decay * p0[i]);
    EXPECT_NEAR(p[i], expect, 1e-6f);
  }
  EXPECT_THROW(adamw_update(p.data(), g.data(), m.data(), v.data(), 3, hp, 0), Error);
}

TEST(AdamW, ClipScale) {
  EXPECT_EQ(clip_scale(0.5, 1.0f), 1.0f);
  EXPECT_NEAR(clip_scale(4.0, 1.0f), 0.25f, 1e-6f);
  EXPECT_NEAR(clip_scale(4.0, 1.0f), static_cast<float>(ref::clip_scale(4.0, 1.0)), 1e-7f);
}

}  // namespace
}  // namespace longctx::kernels
