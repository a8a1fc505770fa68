// Every kind through the kernels' rope_cache_build / rope_forward / rope_backward:
// q.k after rotation depends on the relative position only (for all kinds, xPos included,
// since its scales multiply to zeta^((n-m)/scale_base)), and backward is the adjoint of forward.
// The model-level "tiny model per kind" test belongs to the model layer.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/rope_apply.h"
#include "rope/rope_spec.h"

namespace longctx::rope {
namespace {

const char* kSpecs[] = {
    "default", "abf", "linear:factor=4", "ntk:factor=4", "dynamic:factor=4,original=16",
    "yarn:factor=8,original=16", "llama3:factor=8,original=32", "xpos", "xpos:base=500000",
    "truncation:wavelength=16", "longrope:original=16,factor=4,short=1;1.5;2;3;4;5;6;8,long=2;3;4;5;6;7;8;9",
    "yarn:factor=4,original=16,partial=0.5"};

TEST(RopeKernels, EveryKindIsRelativeAndAdjoint) {
  const int head_dim = 16, T = 64, H = 1;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> q(head_dim), k(head_dim);
  for (auto& v : q) v = normal(rng);
  for (auto& v : k) v = normal(rng);
  for (const char* text : kSpecs) {
    SCOPED_TRACE(text);
    const RopeSpec spec = parse_rope_spec(text);
    const auto freqs = rope_frequencies(spec, head_dim, T);  // dynamic/longrope: the long table
    const auto cache = kernels::rope_cache_build(freqs, head_dim, T);
    // Same q at every position, same k at every position: (T, head_dim) each.
    std::vector<float> qs(T * head_dim), ks(T * head_dim), qr(qs.size()), kr(ks.size());
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < head_dim; ++i) qs[t * head_dim + i] = q[i], ks[t * head_dim + i] = k[i];
    kernels::rope_forward(qr.data(), qs.data(), cache, nullptr, 0, 1, T, H, kernels::RopeRole::kQuery);
    kernels::rope_forward(kr.data(), ks.data(), cache, nullptr, 0, 1, T, H, kernels::RopeRole::kKey);
    auto dot = [&](int n, int m) {
      double s = 0;
      for (int i = 0; i < head_dim; ++i) s += double(qr[n * head_dim + i]) * kr[m * head_dim + i];
      return s;
    };
    // Relative-position invariance: score(n, m) == score(n + s, m + s).
    for (int delta : {0, 1, 5, 17}) {
      const double ref = dot(delta, 0);
      for (int shift : {3, 20, 40}) {
        if (delta + shift >= T) continue;
        EXPECT_NEAR(dot(delta + shift, shift), ref, 2e-4 * (1 + std::fabs(ref))) << "delta " << delta;
      }
    }
    // Unrotated tail (partial rotary) passes through unchanged.
    if (spec.partial_rotary < 1) {
      for (int i = 2 * static_cast<int>(freqs.theta.size()); i < head_dim; ++i) EXPECT_EQ(qr[5 * head_dim + i], q[i]);
    }
    // Adjoint: <R x, y> == <x, R^T y>.
    std::vector<float> y(qs.size()), rty(qs.size());
    for (auto& v : y) v = normal(rng);
    kernels::rope_backward(rty.data(), y.data(), cache, nullptr, 0, 1, T, H, kernels::RopeRole::kQuery);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < qs.size(); ++i) lhs += double(qr[i]) * y[i], rhs += double(qs[i]) * rty[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::fabs(lhs)));
  }
}

// Dynamic NTK is the one kind whose table depends on the current length: below the original
// context it equals plain RoPE, above it the base grows.
TEST(RopeKernels, DynamicTableFollowsLength) {
  const RopeSpec spec = parse_rope_spec("dynamic:factor=4,original=16");
  const auto short_table = rope_frequencies(spec, 16, 8);
  const auto plain = rope_frequencies(parse_rope_spec("default"), 16, 8);
  EXPECT_EQ(short_table.theta, plain.theta);
  EXPECT_LT(rope_frequencies(spec, 16, 64).theta.back(), plain.theta.back());
}

}  // namespace
}  // namespace longctx::rope
