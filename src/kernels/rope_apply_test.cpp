#include "kernels/rope_apply.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/reference.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

using testing::convert;

// theta_j = base^(-2j/d) for n_pairs pairs; optional xPos zeta_j = (2j + 0.4d) / (1.4d).
RopeFreqs make_freqs(int head_dim, int n_pairs, double base, bool xpos, double attention_factor) {
  RopeFreqs f;
  for (int j = 0; j < n_pairs; ++j) {
    f.theta.push_back(std::pow(base, -2.0 * j / head_dim));
    if (xpos) f.xpos_zeta.push_back((2.0 * j + 0.4 * head_dim) / (1.4 * head_dim));
  }
  f.attention_factor = attention_factor;
  return f;
}

struct RopeCase {
  int head_dim, n_pairs;
  bool xpos;
  double attention_factor;
  bool use_positions;
};

TEST(Rope, ForwardBackwardMatchReference) {
  const RopeCase cases[] = {{8, 4, false, 1.0, false}, {8, 2, false, 1.0, true},
                            {16, 8, true, 1.0, false}, {16, 5, true, 1.3, true},
                            {2, 1, false, 0.7, false}, {12, 3, true, 1.0, false}};
  const int64_t B = 2, T = 7, n_pos = 64, pos_offset = 40;
  const int H = 3;
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "head_dim " << c.head_dim << " pairs " << c.n_pairs
                                      << " xpos " << c.xpos << " af " << c.attention_factor
                                      << " positions " << c.use_positions);
    const auto freqs = make_freqs(c.head_dim, c.n_pairs, 10000.0, c.xpos, c.attention_factor);
    const RopeCache cache = rope_cache_build(freqs, c.head_dim, n_pos);
    ASSERT_EQ(cache.has_xpos(), c.xpos);
    const ref::RopeRefParams rp{c.head_dim, n_pos / 2};  // kernel centres xPos at n_positions/2
    auto positions = testing::random_ints(B * T, 5, 0, static_cast<int32_t>(n_pos - 1));
    const int32_t* pos = c.use_positions ? positions.data() : nullptr;
    const int64_t n = B * T * H * c.head_dim;
    for (RopeRole role : {RopeRole::kQuery, RopeRole::kKey}) {
      auto x = testing::random_normal<float>(n, 6);
      auto xd = convert<double>(x);
      std::vector<float> y(n), dx(n);
      std::vector<double> ry(n), rdx(n);
      rope_forward(y.data(), x.data(), cache, pos, pos_offset, B, T, H, role);
      ref::rope_forward(ry.data(), xd.data(), freqs, rp, pos, pos_offset, B, T, H, role);
      EXPECT_LT(testing::max_rel_error(y, ry), 1e-6);  // float tables, one rounding each
      rope_backward(dx.data(), x.data(), cache, pos, pos_offset, B, T, H, role);
      ref::rope_backward(rdx.data(), xd.data(), freqs, rp, pos, pos_offset, B, T, H, role);
      EXPECT_LT(testing::max_rel_error(dx, rdx), 1e-6);
      // In place (out == in) gives the same answer.
      rope_forward(x.data(), x.data(), cache, pos, pos_offset, B, T, H, role);
      EXPECT_EQ(testing::max_abs_diff(x, y), 0.0);
    }
  }
}

TEST(Rope, ReferenceBackwardMatchesFiniteDifferences) {
  const auto freqs = make_freqs(8, 3, 10000.0, true, 1.2);
  const ref::RopeRefParams rp{8, 3};
  const int64_t B = 1, T = 4;
  const int H = 2;
  const int64_t n = B * T * H * 8;
  auto x = testing::random_normal<double>(n, 7);
  auto dout = testing::random_normal<double>(n, 8);
  for (RopeRole role : {RopeRole::kQuery, RopeRole::kKey}) {
    auto loss = [&](const std::vector<double>& xs) {
      std::vector<double> y(n);
      ref::rope_forward(y.data(), xs.data(), freqs, rp, nullptr, 5, B, T, H, role);
      return testing::dot(y.data(), dout.data(), n);
    };
    auto fd = testing::finite_difference_gradient(loss, x, 1e-5);
    std::vector<double> grad(n);
    ref::rope_backward(grad.data(), dout.data(), freqs, rp, nullptr, 5, B, T, H, role);
    EXPECT_LT(testing::max_abs_diff(grad, fd), 1e-8);  // linear in x: FD exact up to rounding
  }
}

// A rotation keeps each head's norm; the attention factor scales it by a.
TEST(Rope, PreservesNormsUpToAttentionFactor) {
  for (double af : {1.0, 1.25}) {
    const auto freqs = make_freqs(16, 8, 500000.0, false, af);
    const RopeCache cache = rope_cache_build(freqs, 16, 5000);
    const int64_t T = 9;
    auto x = testing::random_normal<float>(T * 16, 9);
    std::vector<float> y(T * 16);
    rope_forward(y.data(), x.data(), cache, nullptr, 4990, 1, T, 1, RopeRole::kQuery);
    for (int64_t t = 0; t < T; ++t) {
      const double nx = std::sqrt(testing::dot(&x[t * 16], &x[t * 16], 16));
      const double ny = std::sqrt(testing::dot(&y[t * 16], &y[t * 16], 16));
      EXPECT_NEAR(ny / nx, af, 1e-6) << "t " << t;
    }
  }
}

// q_n . k_m after RoPE depends only on n - m (default base 1e4 and ABF base 5e5); with
// xPos each pair's term is further multiplied by zeta_j^((n-m)/scale_base).
TEST(Rope, DotProductDependsOnlyOnRelativePosition) {
  const int D = 16;
  auto q = testing::random_normal<float>(D, 10), k = testing::random_normal<float>(D, 11);
  const int64_t n_pos = 8192;
  for (double base : {10000.0, 500000.0}) {
    const auto plain_f = make_freqs(D, D / 2, base, false, 1.0);
    const auto xpos_f = make_freqs(D, D / 2, base, true, 1.0);
    const RopeCache plain = rope_cache_build(plain_f, D, n_pos);
    const RopeCache xpos = rope_cache_build(xpos_f, D, n_pos);
    for (int32_t delta : {0, 3, 700}) {
      double first_plain = 0, first_xpos = 0;
      for (int32_t m : {0, 17, 1000, 7000}) {
        const int32_t nq = m + delta;
        std::vector<float> rq(D), rk(D), xq(D), xk(D);
        rope_forward(rq.data(), q.data(), plain, &nq, 0, 1, 1, 1, RopeRole::kQuery);
        rope_forward(rk.data(), k.data(), plain, &m, 0, 1, 1, 1, RopeRole::kKey);
        rope_forward(xq.data(), q.data(), xpos, &nq, 0, 1, 1, 1, RopeRole::kQuery);
        rope_forward(xk.data(), k.data(), xpos, &m, 0, 1, 1, 1, RopeRole::kKey);
        const double dp = testing::dot(rq.data(), rk.data(), D);
        const double dx = testing::dot(xq.data(), xk.data(), D);
        // Expected xPos dot: per-pair plain terms times zeta_j^(delta / scale_base).
        double expect_x = 0.0;
        for (int j = 0; j < D / 2; ++j)
          expect_x += std::pow(xpos_f.xpos_zeta[j], delta / xpos_f.xpos_scale_base) *
                      (double(rq[2 * j]) * rk[2 * j] + double(rq[2 * j + 1]) * rk[2 * j + 1]);
        // Float tables: ~1e-7 per entry, angles to 7e3 rad formed in double -> 1e-5 abs.
        EXPECT_NEAR(dx, expect_x, 1e-5) << "base " << base << " m " << m << " delta " << delta;
        if (m == 0) {
          first_plain = dp;
          first_xpos = dx;
        } else {
          EXPECT_NEAR(dp, first_plain, 1e-5) << "base " << base << " m " << m << " delta " << delta;
          EXPECT_NEAR(dx, first_xpos, 1e-5) << "base " << base << " m " << m << " delta " << delta;
        }
      }
    }
  }
}

// Centred xPos tables stay finite at 64k positions (uncentred, k's scale would reach
// zeta_0^(-128) = e^160) and their products are the relative decay.
TEST(Rope, XposTablesStayInFloatRangeAtLongContext) {
  const int D = 8;
  const auto f = make_freqs(D, D / 2, 500000.0, true, 1.0);  // zeta_0 = 0.4/1.4, the smallest
  const int64_t n_pos = 65536;
  const RopeCache cache = rope_cache_build(f, D, n_pos);
  for (size_t i = 0; i < cache.q_scale.size(); ++i)
    ASSERT_TRUE(std::isfinite(cache.q_scale[i]) && cache.q_scale[i] > 0 &&
                std::isfinite(cache.k_scale[i]) && cache.k_scale[i] > 0) << i;
  const int P = cache.n_pairs;
  for (auto [n, m] : {std::pair<int64_t, int64_t>{0, 0}, {65535, 64535}, {65535, 65535}, {40000, 1}}) {
    for (int j = 0; j < P; ++j) {
      const double got = double(cache.q_scale[n * P + j]) * cache.k_scale[m * P + j];
      const double want = std::pow(f.xpos_zeta[j], double(n - m) / f.xpos_scale_base);
      EXPECT_NEAR(got / want, 1.0, 1e-5) << n << " " << m << " pair " << j;
    }
  }
  EXPECT_THROW(rope_cache_build(f, D, int64_t{1} << 20), Error);  // e^640: out of float range
}

// Inference keeps a window of positions [first, first + n) instead of a table from 0: each
// entry is formed from its absolute position, so the window's rows are bit-identical to the
// full table's, rotation through either gives the same bits (with pos_offset and with a
// positions array), and positions outside the window are refused with its range.
TEST(Rope, WindowTableMatchesTableFromZero) {
  const auto f = make_freqs(16, 6, 500000.0, false, 1.2);  // partial rotary, attention factor
  const int64_t first = 32000, n = 300;
  const RopeCache full = rope_cache_build(f, 16, first + n);
  const RopeCache win = rope_cache_build(f, 16, n, first);
  EXPECT_EQ(win.first_position, first);
  ASSERT_EQ(win.cos.size(), static_cast<size_t>(n * 6));
  for (size_t i = 0; i < win.cos.size(); ++i) {
    ASSERT_EQ(win.cos[i], full.cos[static_cast<size_t>(first * 6) + i]) << i;
    ASSERT_EQ(win.sin[i], full.sin[static_cast<size_t>(first * 6) + i]) << i;
  }
  const int64_t T = 5;
  const int H = 2;
  const std::vector<float> x = testing::random_normal<float>(T * H * 16, 3);
  std::vector<float> a(x.size()), b(x.size());
  rope_forward(a.data(), x.data(), full, nullptr, first + 100, 1, T, H, RopeRole::kKey);
  rope_forward(b.data(), x.data(), win, nullptr, first + 100, 1, T, H, RopeRole::kKey);
  EXPECT_EQ(a, b);
  const int32_t pos[T] = {32000, 32299, 32150, 32001, 32007};
  rope_backward(a.data(), x.data(), full, pos, 0, 1, T, H, RopeRole::kQuery);
  rope_backward(b.data(), x.data(), win, pos, 0, 1, T, H, RopeRole::kQuery);
  EXPECT_EQ(a, b);
  try {
    rope_forward(b.data(), x.data(), win, nullptr, first - 1, 1, T, H, RopeRole::kKey);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[32000, 32300)"), std::string::npos) << e.what();
  }
  const int32_t past[1] = {32300};
  EXPECT_THROW(rope_forward(b.data(), x.data(), win, past, 0, 1, 1, H, RopeRole::kKey), Error);
  // xPos scales are centred on the table's span: a window would change them.
  EXPECT_THROW(rope_cache_build(make_freqs(8, 4, 10000.0, true, 1.0), 8, 10, 5), Error);
  EXPECT_THROW(rope_cache_build(f, 16, 10, -1), Error);
}

TEST(Rope, BadInputsThrow) {
  const auto f = make_freqs(8, 4, 10000.0, false, 1.0);
  EXPECT_THROW(rope_cache_build(f, 6, 10), Error);   // 4 pairs > 6 / 2
  EXPECT_THROW(rope_cache_build(f, 9, 10), Error);   // odd head_dim
  EXPECT_THROW(rope_cache_build(f, 8, 0), Error);    // no positions
  auto bad_zeta = make_freqs(8, 4, 10000.0, true, 1.0);
  bad_zeta.xpos_zeta.pop_back();
  EXPECT_THROW(rope_cache_build(bad_zeta, 8, 10), Error);
  const RopeCache cache = rope_cache_build(f, 8, 10);
  std::vector<float> x(2 * 8);
  EXPECT_THROW(rope_forward(x.data(), x.data(), cache, nullptr, 9, 1, 2, 1, RopeRole::kQuery), Error);
  const int32_t pos[2] = {3, 10};
  EXPECT_THROW(rope_backward(x.data(), x.data(), cache, pos, 0, 1, 2, 1, RopeRole::kKey), Error);
}

}  // namespace
}  // namespace longctx::kernels
