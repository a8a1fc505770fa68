#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include "kernels/reference.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

using testing::convert;

struct Shape3 {
  int64_t N, K, M;
};
const Shape3 kShapes[] = {{1, 1, 1}, {1, 13, 7}, {7, 13, 5}, {33, 64, 17}, {128, 96, 70}};

TEST(Matmul, ForwardMatchesReference) {
  for (const auto& [N, K, M] : kShapes) {
    SCOPED_TRACE(::testing::Message() << N << "x" << K << "x" << M);
    auto x = testing::random_normal<float>(N * K, 1 + N);
    auto w = testing::random_normal<float>(M * K, 2 + M);
    auto xd = convert<double>(x), wd = convert<double>(w);
    std::vector<float> out(N * M);
    std::vector<double> rout(N * M);
    matmul_forward(out.data(), x.data(), w.data(), N, K, M);
    ref::matmul_forward(rout.data(), xd.data(), wd.data(), N, K, M);
    EXPECT_LT(testing::max_rel_error(out, rout), 1e-6);  // float sums of <= 96 terms

    auto acc = testing::random_normal<float>(N * M, 3);
    auto racc = convert<double>(acc);
    matmul_forward(acc.data(), x.data(), w.data(), N, K, M, /*accumulate=*/true);
    ref::matmul_forward(racc.data(), xd.data(), wd.data(), N, K, M, true);
    EXPECT_LT(testing::max_rel_error(acc, racc), 1e-6);
  }
}

TEST(Matmul, BackwardMatchesReference) {
  for (const auto& [N, K, M] : kShapes) {
    SCOPED_TRACE(::testing::Message() << N << "x" << K << "x" << M);
    auto x = testing::random_normal<float>(N * K, 4 + N);
    auto w = testing::random_normal<float>(M * K, 5 + M);
    auto dout = testing::random_normal<float>(N * M, 6);
    auto dw = testing::random_normal<float>(M * K, 7);  // dw accumulates onto this
    auto dx = testing::random_normal<float>(N * K, 8);
    auto xd = convert<double>(x), wd = convert<double>(w), doutd = convert<double>(dout);
    auto rdw = convert<double>(dw);
    std::vector<double> rdx(N * K);
    matmul_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), N, K, M);
    ref::matmul_backward(rdx.data(), rdw.data(), doutd.data(), xd.data(), wd.data(), N, K, M);
    EXPECT_LT(testing::max_rel_error(dx, rdx), 1e-6);
    EXPECT_LT(testing::max_rel_error(dw, rdw), 1e-6);

    // accumulate_dx adds; a null dw is skipped.
    auto dx_before = dx;
    matmul_backward(dx.data(), nullptr, dout.data(), x.data(), w.data(), N, K, M, true);
    for (int64_t i = 0; i < N * K; ++i)
      ASSERT_NEAR(dx[i], 2.0 * rdx[i], 1e-5 * (1.0 + std::fabs(rdx[i])));
    // A null dx is skipped and dw accumulates again.
    matmul_backward(nullptr, dw.data(), dout.data(), x.data(), w.data(), N, K, M);
    ref::matmul_backward(nullptr, rdw.data(), doutd.data(), xd.data(), wd.data(), N, K, M);
    EXPECT_LT(testing::max_rel_error(dw, rdw), 1e-6);
  }
}

TEST(Matmul, ReferenceBackwardMatchesFiniteDifferences) {
  const int64_t N = 3, K = 5, M = 4;
  auto x = testing::random_normal<double>(N * K, 10);
  auto w = testing::random_normal<double>(M * K, 11);
  auto dout = testing::random_normal<double>(N * M, 12);
  auto loss = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
    std::vector<double> out(N * M);
    ref::matmul_forward(out.data(), xs.data(), ws.data(), N, K, M);
    return testing::dot(out.data(), dout.data(), N * M);
  };
  auto fd_x = testing::finite_difference_gradient([&](const auto& xs) { return loss(xs, w); }, x, 1e-5);
  auto fd_w = testing::finite_difference_gradient([&](const auto& ws) { return loss(x, ws); }, w, 1e-5);
  std::vector<double> dx(N * K), dw(M * K, 0.0);
  ref::matmul_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), N, K, M);
  EXPECT_LT(testing::max_abs_diff(dx, fd_x), 1e-8);  // bilinear: FD exact up to rounding
  EXPECT_LT(testing::max_abs_diff(dw, fd_w), 1e-8);
}

}  // namespace
}  // namespace longctx::kernels
