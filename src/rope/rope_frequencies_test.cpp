// rope_frequencies for every kind against expected values written out here in
// double precision (independent of the implementation's helper functions).
#include <gtest/gtest.h>

#include <cmath>

#include "rope/rope_spec.h"

namespace longctx::rope {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kRel = 1e-12;  // relative tolerance: same double formulas, different evaluation order

void expect_rel(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, kRel * std::fabs(want) + 1e-300) << what;
}

TEST(RopeFrequencies, DefaultAbfLinear) {
  const int d = 128;
  auto def = rope_frequencies(parse_rope_spec("default"), d, 4096);
  auto abf = rope_frequencies(parse_rope_spec("abf"), d, 4096);
  auto lin = rope_frequencies(parse_rope_spec("linear:factor=8"), d, 4096);
  ASSERT_EQ(def.theta.size(), 64u);
  ASSERT_EQ(abf.theta.size(), 64u);
  ASSERT_EQ(lin.theta.size(), 64u);
  for (int j : {0, 1, 17, 32, 63}) {
    expect_rel(def.theta[j], std::exp(-(2.0 * j / 128.0) * std::log(10000.0)), "default j=" + std::to_string(j));
    expect_rel(abf.theta[j], std::exp(-(2.0 * j / 128.0) * std::log(500000.0)), "abf j=" + std::to_string(j));
    expect_rel(lin.theta[j], std::exp(-(2.0 * j / 128.0) * std::log(10000.0)) / 8.0, "linear j=" + std::to_string(j));
  }
  EXPECT_EQ(def.theta[0], 1.0);
  EXPECT_EQ(def.attention_factor, 1.0);
  EXPECT_TRUE(def.xpos_zeta.empty());
  // j = 32 is half-way: theta = b^(-1/2).
  expect_rel(def.theta[32], 0.01, "default j=32");
  expect_rel(abf.theta[32], 1.0 / std::sqrt(500000.0), "abf j=32");
}

TEST(RopeFrequencies, PartialRotaryUsesRotatedWidth) {
  // HF: dim = int(head_dim * partial_rotary_factor); theta_j = b^(-2j/dim).
  auto f = rope_frequencies(parse_rope_spec("default:partial=0.25"), 128, 1);
  ASSERT_EQ(f.theta.size(), 16u);
  for (int j = 0; j < 16; ++j) expect_rel(f.theta[j], std::pow(10000.0, -2.0 * j / 32.0), "partial");
}


double plain(double base, int j, int d) { return std::pow(base, -2.0 * j / d); }

TEST(RopeFrequencies, NtkStaticAndDynamic) {
  const int d = 128;
  // NTK-aware: b' = b * s^(d/(d-2)).
  auto ntk = rope_frequencies(parse_rope_spec("ntk:factor=4"), d, 1);
  const double b_ntk = 10000.0 * std::pow(4.0, 128.0 / 126.0);
  for (int j : {0, 5, 40, 63}) expect_rel(ntk.theta[j], plain(b_ntk, j, d), "ntk j=" + std::to_string(j));
  // Dynamic NTK (HF): l = max(seq_len, original); b' = b * (s*l/original - (s-1))^(d/(d-2)).
  const RopeSpec dyn = parse_rope_spec("dynamic:factor=4,original=4096");
  auto short_seq = rope_frequencies(dyn, d, 2048);  // below original: plain RoPE
  auto at_orig = rope_frequencies(dyn, d, 4096);
  auto long_seq = rope_frequencies(dyn, d, 8192);  // (4*2 - 3) = 5
  for (int j : {0, 7, 33, 63}) {
    expect_rel(short_seq.theta[j], plain(10000.0, j, d), "dynamic 2048");
    expect_rel(at_orig.theta[j], plain(10000.0, j, d), "dynamic 4096");
    expect_rel(long_seq.theta[j], plain(10000.0 * std::pow(5.0, 128.0 / 126.0), j, d), "dynamic 8192");
  }
  EXPECT_LT(long_seq.theta[63], at_orig.theta[63]);
}

TEST(RopeFrequencies, YarnMatchesHfRampAndRounding) {
  const int d = 128;
  // corr_dim(r) = d ln(L/(2 pi r)) / (2 ln b): 20.944 for r=32, 45.027 for r=1 (L=4096, b=1e4)
  // -> HF truncation: low = floor = 20, high = ceil = 46.
  const double c32 = 128.0 * std::log(4096.0 / (2 * kPi * 32)) / (2 * std::log(10000.0));
  const double c1 = 128.0 * std::log(4096.0 / (2 * kPi * 1)) / (2 * std::log(10000.0));
  ASSERT_EQ(std::floor(c32), 20.0);
  ASSERT_EQ(std::ceil(c1), 46.0);
  auto y = rope_frequencies(parse_rope_spec("yarn:factor=8,original=4096"), d, 1);
  auto mix = [&](int j, double lo, double hi) {
    const double ramp = std::min(1.0, std::max(0.0, (j - lo) / (hi - lo)));
    return plain(10000.0, j, d) / 8.0 * ramp + plain(10000.0, j, d) * (1.0 - ramp);
  };
  for (int j = 0; j < 64; ++j) expect_rel(y.theta[j], mix(j, 20.0, 46.0), "yarn j=" + std::to_string(j));
  // Spot values: j <= 20 untouched, j = 33 half-way (ramp 13/26), j >= 46 divided by 8.
  expect_rel(y.theta[20], plain(10000.0, 20, d), "yarn j=20");
  expect_rel(y.theta[33], plain(10000.0, 33, d) * (0.5 / 8.0 + 0.5), "yarn j=33");
  expect_rel(y.theta[46], plain(10000.0, 46, d) / 8.0, "yarn j=46");
  expect_rel(y.attention_factor, 0.1 * std::log(8.0) + 1.0, "yarn attention");
  // truncate=0 keeps the fractional range.
  auto yt = rope_frequencies(parse_rope_spec("yarn:factor=8,original=4096,truncate=0"), d, 1);
  for (int j : {20, 21, 30, 45, 46}) expect_rel(yt.theta[j], mix(j, c32, c1), "yarn truncate=0");
  // Explicit attention factor and the DeepSeek mscale ratio.
  expect_rel(rope_frequencies(parse_rope_spec("yarn:factor=8,original=4096,attention_factor=1.5"), d, 1)
                 .attention_factor, 1.5, "attention_factor");
  expect_rel(rope_frequencies(parse_rope_spec("yarn:factor=40,original=4096,mscale=1,mscale_all_dim=0.707"), d, 1)
                 .attention_factor,
             (0.1 * std::log(40.0) + 1.0) / (0.1 * 0.707 * std::log(40.0) + 1.0), "mscale ratio");
}

TEST(RopeFrequencies, Llama3HfDefaults) {
  const int d = 128;
  // factor 8, low 1, high 4, original 8192; b = 500000. Wavelength 2 pi / theta:
  // j=28: 1956.5 < 8192/4 (kept); j=30: 2948.3 (smooth); j=36: 10089 > 8192 (divided by 8).
  auto f = rope_frequencies(parse_rope_spec("llama3:base=500000"), d, 1);
  expect_rel(f.theta[28], plain(500000.0, 28, d), "llama3 j=28");
  const double t30 = plain(500000.0, 30, d);
  const double smooth = (8192.0 / (2 * kPi / t30) - 1.0) / (4.0 - 1.0);
  expect_rel(f.theta[30], (1 - smooth) * t30 / 8.0 + smooth * t30, "llama3 j=30");
  expect_rel(f.theta[36], plain(500000.0, 36, d) / 8.0, "llama3 j=36");
  expect_rel(f.theta[0], 1.0, "llama3 j=0");
  EXPECT_EQ(f.attention_factor, 1.0);
}

TEST(RopeFrequencies, XposTruncationLongRope) {
  const int d = 128;
  auto x = rope_frequencies(parse_rope_spec("xpos:base=500000"), d, 1);
  ASSERT_EQ(x.xpos_zeta.size(), 64u);
  for (int j : {0, 10, 63}) {
    expect_rel(x.xpos_zeta[j], (2.0 * j + 0.4 * 128) / (1.4 * 128), "zeta");
    expect_rel(x.theta[j], plain(500000.0, j, d), "xpos ABF theta");
  }
  EXPECT_EQ(x.xpos_scale_base, 512.0);
  // Giraffe: b_cut = 2 pi / 4096. theta_j >= b_cut for j <= 45, in [b_cut/8, b_cut) for j 46..59, below after.
  auto t = rope_frequencies(parse_rope_spec("truncation:wavelength=4096"), d, 1);
  const double b_cut = 2 * kPi / 4096.0;
  for (int j = 0; j <= 45; ++j) expect_rel(t.theta[j], plain(10000.0, j, d), "kept");
  for (int j = 46; j <= 59; ++j) expect_rel(t.theta[j], b_cut / 16.0, "rho");
  for (int j = 60; j < 64; ++j) EXPECT_EQ(t.theta[j], 0.0);
  // LongRoPE: divisors per pair, long list once seq_len > original; attention sqrt(1 + ln 8 / ln 4096).
  const RopeSpec lr = parse_rope_spec("longrope:original=4096,factor=8,short=1;1.5;2;3,long=2;4;8;16");
  auto s = rope_frequencies(lr, 8, 4096);
  auto l = rope_frequencies(lr, 8, 4097);
  const double sf[] = {1, 1.5, 2, 3}, lf[] = {2, 4, 8, 16};
  for (int j = 0; j < 4; ++j) {
    expect_rel(s.theta[j], plain(10000.0, j, 8) / sf[j], "short");
    expect_rel(l.theta[j], plain(10000.0, j, 8) / lf[j], "long");
  }
  expect_rel(s.attention_factor, std::sqrt(1.0 + std::log(8.0) / std::log(4096.0)), "longrope attention");
  expect_rel(s.attention_factor, std::sqrt(1.25), "longrope attention = sqrt(1.25)");
}

}  // namespace
}  // namespace longctx::rope
