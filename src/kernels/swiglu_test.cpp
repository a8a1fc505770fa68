#include "kernels/swiglu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/reference.h"
#include "kernels/testing.h"
#include "kernels/simd_testing.h"

namespace longctx::kernels {
namespace {

// Runs once per compiled SIMD target this CPU supports (simd_testing.h).
class SwiGluSimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(SwiGluSimd);

using testing::convert;

TEST_P(SwiGluSimd, ForwardBackwardMatchReference) {
  struct Case {
    int64_t N, H;
  };
  for (const auto& [N, H] : {Case{1, 1}, Case{1, 13}, Case{7, 13}, Case{65, 130}}) {
    SCOPED_TRACE(::testing::Message() << "N=" << N << " H=" << H);
    auto gu = testing::random_normal<float>(N * 2 * H, 1 + N * H, 3.0);
    auto dout = testing::random_normal<float>(N * H, 2 + N);
    auto gud = convert<double>(gu), doutd = convert<double>(dout);
    std::vector<float> out(N * H), dgu(N * 2 * H);
    std::vector<double> rout(N * H), rdgu(N * 2 * H);
    swiglu_forward(out.data(), gu.data(), N, H);
    ref::swiglu_forward(rout.data(), gud.data(), N, H);
    EXPECT_LT(testing::max_rel_error(out, rout), 1e-6);
    swiglu_backward(dgu.data(), dout.data(), gu.data(), N, H);
    ref::swiglu_backward(rdgu.data(), doutd.data(), gud.data(), N, H);
    EXPECT_LT(testing::max_rel_error(dgu, rdgu), 1e-6);
  }
}

// Saturated gates: no NaN/Inf; silu(-200) = 0, silu(200) = 200.
TEST_P(SwiGluSimd, ExtremeGatesStayFinite) {
  const int64_t H = 16;
  std::vector<float> gu(2 * H), out(H), dgu(2 * H), dout(H, 1.0f);
  for (int64_t h = 0; h < H; ++h) {
    gu[h] = (h % 2 ? 200.0f : -200.0f) * (1.0f + static_cast<float>(h));
    gu[H + h] = 1.0f;
  }
  swiglu_forward(out.data(), gu.data(), 1, H);
  swiglu_backward(dgu.data(), dout.data(), gu.data(), 1, H);
  for (int64_t h = 0; h < H; ++h) {
    EXPECT_TRUE(std::isfinite(out[h]) && std::isfinite(dgu[h]) && std::isfinite(dgu[H + h]));
    EXPECT_NEAR(out[h], gu[h] > 0 ? gu[h] : 0.0f, 1e-6f * std::fabs(gu[h]));
    EXPECT_NEAR(dgu[h], gu[h] > 0 ? 1.0f : 0.0f, 1e-6f);
  }
}

TEST(SwiGlu, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, H = 5;
  auto gu = testing::random_normal<double>(N * 2 * H, 20, 2.0);
  auto dout = testing::random_normal<double>(N * H, 21);
  auto loss = [&](const std::vector<double>& g) {
    std::vector<double> out(N * H);
    ref::swiglu_forward(out.data(), g.data(), N, H);
    return testing::dot(out.data(), dout.data(), N * H);
  };
  auto fd = testing::finite_difference_gradient(loss, gu, 1e-5);
  std::vector<double> grad(N * 2 * H);
  ref::swiglu_backward(grad.data(), dout.data(), gu.data(), N, H);
  EXPECT_LT(testing::max_abs_diff(grad, fd), 1e-8);  // h^2 |f'''| ~ 1e-10
}

}  // namespace
}  // namespace longctx::kernels
