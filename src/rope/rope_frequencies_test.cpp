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

}  // namespace
}  // namespace longctx::rope
