#include "kernels/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/threads.h"
#include "kernels/reference.h"
#include "kernels/testing.h"
#include "kernels/simd_testing.h"

namespace longctx::kernels {
namespace {

using testing::convert;

// Runs once per compiled SIMD target this CPU supports (simd_testing.h).
class RmsNormSimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(RmsNormSimd);

struct Case {
  int64_t N, C;
};
const Case kCases[] = {{1, 1}, {1, 13}, {7, 13}, {33, 64}, {130, 257}};

TEST_P(RmsNormSimd, ForwardBackwardMatchReference) {
  const float eps = 1e-5f;
  for (const auto& [N, C] : kCases) {
    SCOPED_TRACE(::testing::Message() << "N=" << N << " C=" << C);
    auto x = testing::random_normal<float>(N * C, 10 + N * C, 2.0);
    auto w = testing::random_normal<float>(C, 11, 0.5, 1.0);
    auto dout = testing::random_normal<float>(N * C, 12 + N);
    std::vector<float> out(N * C), rstd(N), dx(N * C);
    auto dw = testing::random_normal<float>(C, 13);  // dweight accumulates onto this
    auto xd = convert<double>(x), wd = convert<double>(w), doutd = convert<double>(dout);
    std::vector<double> rout(N * C), rrstd(N), rdx(N * C);
    auto rdw = convert<double>(dw);
    rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
    ref::rmsnorm_forward(rout.data(), rrstd.data(), xd.data(), wd.data(), N, C, eps);
    EXPECT_LT(testing::max_rel_error(out, rout), 1e-6) << N << "x" << C;
    EXPECT_LT(testing::max_rel_error(rstd, rrstd), 1e-6) << N << "x" << C;

    rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
    ref::rmsnorm_backward(rdx.data(), rdw.data(), doutd.data(), xd.data(), wd.data(), rrstd.data(),
                          N, C);
    // dx = r (w g - x r^2 mean(g w x)) cancels its two terms (completely as C -> 1), so
    // the float error is bounded relative to the first term's norm ||r w g||, not ||dx||.
    double term_sq = 0.0, err_sq = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        const double t = rrstd[n] * wd[c] * doutd[n * C + c];
        const double e = dx[n * C + c] - rdx[n * C + c];
        term_sq += t * t;
        err_sq += e * e;
      }
    EXPECT_LT(std::sqrt(err_sq / term_sq), 1e-6) << N << "x" << C;
    EXPECT_LT(testing::max_rel_error(dw, rdw), 1e-5) << N << "x" << C;

    // accumulate = true adds onto dx.
    auto dx2 = dx;
    std::vector<float> dw_dummy(C, 0.0f);
    rmsnorm_backward(dx2.data(), dw_dummy.data(), dout.data(), x.data(), w.data(), rstd.data(), N,
                     C, /*accumulate=*/true);
    for (int64_t i = 0; i < N * C; ++i) ASSERT_NEAR(dx2[i], 2.0f * dx[i], 1e-5f * (1 + std::fabs(dx[i])));
  }
}

// Reference backward vs central differences of the reference forward, for x and weight.
TEST(RmsNorm, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, C = 7;
  const double eps = 1e-5;
  auto x = testing::random_normal<double>(N * C, 20);
  auto w = testing::random_normal<double>(C, 21, 0.5, 1.0);
  auto dout = testing::random_normal<double>(N * C, 22);
  auto forward = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
    std::vector<double> out(N * C), rstd(N);
    ref::rmsnorm_forward(out.data(), rstd.data(), xs.data(), ws.data(), N, C, eps);
    return testing::dot(out.data(), dout.data(), N * C);
  };
  auto fd_x = testing::finite_difference_gradient([&](const auto& xs) { return forward(xs, w); }, x, 1e-5);
  auto fd_w = testing::finite_difference_gradient([&](const auto& ws) { return forward(x, ws); }, w, 1e-5);
  std::vector<double> out(N * C), rstd(N), dx(N * C), dw(C, 0.0);
  ref::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, eps);
  ref::rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
  // h = 1e-5 central differences in double: truncation ~h^2 = 1e-10, rounding ~1e-11.
  EXPECT_LT(testing::max_abs_diff(dx, fd_x), 1e-7);
  EXPECT_LT(testing::max_abs_diff(dw, fd_w), 1e-7);
}

TEST_P(RmsNormSimd, BackwardIdenticalAcrossThreadCountsAndRuns) {
  const int64_t N = 300, C = 300;
  auto x = testing::random_normal<float>(N * C, 30);
  auto w = testing::random_normal<float>(C, 31);
  auto dout = testing::random_normal<float>(N * C, 32);
  std::vector<float> out(N * C), rstd(N);
  rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6f);
  const int saved = num_threads();
  std::vector<std::vector<float>> dxs, dws;
  for (int threads : {1, 2, 2}) {
    set_num_threads(threads);
    std::vector<float> dx(N * C), dw(C, 0.0f);
    rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
    dxs.push_back(dx);
    dws.push_back(dw);
  }
  set_num_threads(saved);
  for (size_t i = 1; i < dxs.size(); ++i) {
    EXPECT_EQ(std::memcmp(dxs[0].data(), dxs[i].data(), dxs[0].size() * 4), 0);
    EXPECT_EQ(std::memcmp(dws[0].data(), dws[i].data(), dws[0].size() * 4), 0);
  }
}

}  // namespace
}  // namespace longctx::kernels
