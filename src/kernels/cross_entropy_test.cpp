#include "kernels/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/buffer.h"
#include "core/error.h"
#include "kernels/cross_entropy_chunk.h"
#include "kernels/reference.h"
#include "kernels/testing.h"
#include "kernels/simd_testing.h"

namespace longctx::kernels {
namespace {

using testing::convert;

// Random targets in [0, V) with every third one set to the ignore index.
std::vector<int32_t> make_targets(int64_t N, int64_t V, uint64_t seed) {
  auto t = testing::random_ints(N, seed, 0, static_cast<int32_t>(V - 1));
  for (int64_t n = 1; n < N; n += 3) t[n] = kIgnoreIndex;
  return t;
}

// Runs once per compiled SIMD target this CPU supports (simd_testing.h).
class CrossEntropySimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(CrossEntropySimd);

struct CeCase {
  int64_t N, C, V, chunk;
};

TEST_P(CrossEntropySimd, MatchesReferenceAcrossShapesAndChunks) {
  const CeCase cases[] = {{1, 13, 7, 0},  {7, 13, 37, 1},   {7, 13, 37, 3}, {7, 13, 37, 100},
                          {33, 16, 1000, 8}, {33, 16, 1000, 0}, {2, 5, 1, 1}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "N " << c.N << " C " << c.C << " V " << c.V
                                      << " chunk " << c.chunk);
    auto x = testing::random_normal<float>(c.N * c.C, 1 + c.N, 1.0);
    auto w = testing::random_normal<float>(c.V * c.C, 2 + c.V, 0.5);
    auto targets = make_targets(c.N, c.V, 3);
    auto xd = convert<double>(x), wd = convert<double>(w);
    int64_t n_valid = 0;
    for (auto t : targets) n_valid += t != kIgnoreIndex;
    const float scale = 1.0f / static_cast<float>(n_valid);

    std::vector<float> dx(c.N * c.C, 123.0f);  // dx is written, not accumulated
    auto dw = testing::random_normal<float>(c.V * c.C, 4);  // dw accumulates onto this
    std::vector<double> rdx(c.N * c.C);
    auto rdw = convert<double>(dw);
    const LossSum got = lm_head_cross_entropy_forward_backward(
        dx.data(), dw.data(), x.data(), w.data(), targets.data(), c.N, c.C, c.V, scale, c.chunk);
    const LossSum want = ref::lm_head_cross_entropy_forward_backward(
        rdx.data(), rdw.data(), xd.data(), wd.data(), targets.data(), c.N, c.C, c.V, scale);
    EXPECT_EQ(got.n_valid, want.n_valid);
    EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-5 * (1.0 + std::fabs(want.loss_sum)));
    EXPECT_LT(testing::max_rel_error(dx, rdx), 1e-5);  // float logits, exp ~1 ulp
    EXPECT_LT(testing::max_rel_error(dw, rdw), 1e-5);
    for (int64_t n = 1; n < c.N; n += 3)  // ignored rows get exactly zero gradient
      for (int64_t k = 0; k < c.C; ++k) ASSERT_EQ(dx[n * c.C + k], 0.0f);

    std::vector<float> losses(c.N, -1.0f);
    std::vector<double> rlosses(c.N);
    const LossSum fwd = lm_head_cross_entropy_forward(losses.data(), x.data(), w.data(),
                                                      targets.data(), c.N, c.C, c.V, c.chunk);
    ref::lm_head_cross_entropy_forward(rlosses.data(), xd.data(), wd.data(), targets.data(), c.N,
                                       c.C, c.V);
    EXPECT_LT(testing::max_rel_error(losses, rlosses), 1e-5);
    EXPECT_EQ(fwd.n_valid, want.n_valid);
    EXPECT_NEAR(fwd.loss_sum, got.loss_sum, 1e-9 * (1.0 + got.loss_sum));  // same arithmetic
  }
}

TEST(CrossEntropy, ReferenceGradientMatchesFiniteDifferences) {
  const int64_t N = 4, C = 3, V = 5;
  auto x = testing::random_normal<double>(N * C, 10);
  auto w = testing::random_normal<double>(V * C, 11);
  const std::vector<int32_t> targets = {2, kIgnoreIndex, 0, 4};
  const double scale = 0.37;
  auto loss = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
    return scale * ref::lm_head_cross_entropy_forward(nullptr, xs.data(), ws.data(),
                                                      targets.data(), N, C, V).loss_sum;
  };
  auto fd_x = testing::finite_difference_gradient([&](const auto& xs) { return loss(xs, w); }, x, 1e-5);
  auto fd_w = testing::finite_difference_gradient([&](const auto& ws) { return loss(x, ws); }, w, 1e-5);
  std::vector<double> dx(N * C), dw(V * C, 0.0);
  ref::lm_head_cross_entropy_forward_backward(dx.data(), dw.data(), x.data(), w.data(),
                                              targets.data(), N, C, V, scale);
  EXPECT_LT(testing::max_abs_diff(dx, fd_x), 1e-8);  // h^2 truncation ~1e-10
  EXPECT_LT(testing::max_abs_diff(dw, fd_w), 1e-8);
}

// Logits of +-1000 overflow a naive exp; the max-shifted softmax stays exact.
TEST_P(CrossEntropySimd, StableForLargeLogits) {
  const int64_t N = 3, C = 4, V = 9;
  auto x = testing::random_normal<float>(N * C, 12, 300.0);
  auto w = testing::random_normal<float>(V * C, 13);
  std::vector<int32_t> targets = {0, 4, 8};
  std::vector<float> dx(N * C), dw(V * C, 0.0f);
  std::vector<double> rdx(N * C), rdw(V * C, 0.0);
  auto xd = convert<double>(x), wd = convert<double>(w);
  const LossSum got = lm_head_cross_entropy_forward_backward(dx.data(), dw.data(), x.data(),
                                                             w.data(), targets.data(), N, C, V, 1.0f);
  const LossSum want = ref::lm_head_cross_entropy_forward_backward(
      rdx.data(), rdw.data(), xd.data(), wd.data(), targets.data(), N, C, V, 1.0);
  ASSERT_TRUE(std::isfinite(got.loss_sum));
  // Logits ~1e3 in float carry ~1e-4 absolute error, so the loss is good to ~1e-3.
  EXPECT_NEAR(got.loss_sum, want.loss_sum, 1e-3 * (1.0 + want.loss_sum));
  EXPECT_LT(testing::max_rel_error(dw, rdw), 1e-4);
}

TEST_P(CrossEntropySimd, DeterministicAcrossRuns) {
  const int64_t N = 50, C = 32, V = 300;
  auto x = testing::random_normal<float>(N * C, 14);
  auto w = testing::random_normal<float>(V * C, 15);
  auto targets = make_targets(N, V, 16);
  std::vector<float> dx1(N * C), dw1(V * C, 0.0f), dx2(N * C), dw2(V * C, 0.0f);
  const LossSum a = lm_head_cross_entropy_forward_backward(dx1.data(), dw1.data(), x.data(), w.data(),
                                                           targets.data(), N, C, V, 0.1f, 7);
  const LossSum b = lm_head_cross_entropy_forward_backward(dx2.data(), dw2.data(), x.data(), w.data(),
                                                           targets.data(), N, C, V, 0.1f, 7);
  EXPECT_EQ(a.loss_sum, b.loss_sum);
  EXPECT_EQ(std::memcmp(dx1.data(), dx2.data(), dx1.size() * 4), 0);
  EXPECT_EQ(std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4), 0);
}

TEST(CrossEntropy, ChunkRowsBoundTheScratch) {
  // Automatic chunk: at most 32 MiB of logits, never N x V for a long sequence.
  const int64_t N = 131072, V = 32000;
  const int64_t floats = lm_head_scratch_floats(N, V, 0);
  EXPECT_LE(floats * 4, static_cast<int64_t>(kLmHeadAutoScratchBytes));
  EXPECT_LT(floats, N * V / 100);
  EXPECT_EQ(lm_head_chunk_rows(7, 37, 3), 3);
  EXPECT_EQ(lm_head_chunk_rows(7, 37, 100), 7);         // chunk > N clamps to N
  EXPECT_EQ(lm_head_chunk_rows(7, 1 << 30, 0), 1);      // a huge vocabulary still gets 1 row
  EXPECT_EQ(lm_head_chunk_rows(N, V, 0), 256);          // 262 fit; whole GEMM depth blocks
  EXPECT_EQ(lm_head_chunk_rows(N, 4096, 0), 2048);      // 8192 fit
  EXPECT_EQ(lm_head_chunk_rows(N, 200000, 0), 41);      // under one block: as many as fit
  EXPECT_THROW(lm_head_chunk_rows(7, 37, -1), Error);
}

// Resets the peak-RSS counter (Linux >= 4.0: writing 5 to clear_refs); false if unsupported.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// The real allocation: a full (N x V) logits block would be 128 MiB here; the peak
// resident set may grow by the 32 MiB chunk plus slack, not by that.
TEST(CrossEntropy, PeakMemoryStaysBelowFullLogits) {
  const int64_t N = 4096, C = 8, V = 8192;
  auto x = testing::random_normal<float>(N * C, 17);
  auto w = testing::random_normal<float>(V * C, 18);
  auto targets = make_targets(N, V, 19);
  std::vector<float> dx(N * C), dw(V * C, 0.0f);
  if (!reset_peak_rss()) GTEST_SKIP() << "/proc/self/clear_refs not writable";
  const size_t before = current_rss_bytes();
  const LossSum s = lm_head_cross_entropy_forward_backward(dx.data(), dw.data(), x.data(), w.data(),
                                                           targets.data(), N, C, V, 1e-3f);
  const size_t growth = peak_rss_bytes() - before;
  const size_t full = static_cast<size_t>(N * V) * sizeof(float);
  EXPECT_GT(s.n_valid, 0);
  EXPECT_LT(growth, kLmHeadAutoScratchBytes + (size_t{16} << 20)) << "full logits: " << full;
}

TEST(CrossEntropy, LogitsAndBadTargets) {
  const int64_t N = 3, C = 5, V = 11;
  auto x = testing::random_normal<float>(N * C, 20);
  auto w = testing::random_normal<float>(V * C, 21);
  std::vector<float> logits(N * V);
  std::vector<double> rlogits(N * V);
  auto xd = convert<double>(x), wd = convert<double>(w);
  lm_head_logits(logits.data(), x.data(), w.data(), N, C, V);
  ref::lm_head_logits(rlogits.data(), xd.data(), wd.data(), N, C, V);
  EXPECT_LT(testing::max_rel_error(logits, rlogits), 1e-6);
  std::vector<float> losses(N);
  for (int32_t bad : {-2, 11}) {
    std::vector<int32_t> t = {0, bad, 1};
    EXPECT_THROW(lm_head_cross_entropy_forward(losses.data(), x.data(), w.data(), t.data(), N, C, V),
                 Error);
  }
}

}  // namespace
}  // namespace longctx::kernels
