// Test scaffolding shared by the attention kernels' tests (attention_test.cpp for the
// causal kernels, attention_block_test.cpp for the block kernels of ring attention): one
// set of tolerances for the tiled float kernels against the double references, the
// finite-difference check of a reference backward, and the determinism check. Both kernel
// pairs are the same tiled code (attention_forward-inl.h, attention_backward-inl.h), so
// they are held to the same bounds.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "core/threads.h"
#include "kernels/testing.h"

namespace longctx::kernels::attention_testing {

// The results of one forward + backward: out (T_q, H, D) per batch, lse, dq, dk, dv.
template <class T>
struct AttentionResults {
  std::vector<T> out, lse, dq, dk, dv;
};

inline bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// max |a - b| relative to b's largest entry; absolute when b is all zero (one key per query:
// P = 1 and dS = P (dP - D_i) = 0, so dq and dk vanish and float leaves only rounding).
inline double scaled_max(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (double x : b) m = std::max(m, std::fabs(x));
  const double d = longctx::testing::max_abs_diff(a, b);
  return m > 0.0 ? d / m : d;
}

// max |a - b| over log-sum-exps, where rows that see no key must be -inf in both (a row
// -inf in one and finite in the other counts as an infinite difference).
inline double lse_diff(const std::vector<float>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isinf(a[i]) && std::isinf(b[i]) && (a[i] < 0) == (b[i] < 0)) continue;
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return NAN;
    m = std::max(m, d);
  }
  return m;
}

// The tiled float kernels against the double reference. Float tiles (fp32 sums over D and
// T_kv, exp2 polynomial ~1 ulp) vs double: normalised L2 errors observed 6e-8..3e-7 (out;
// 1.7e-6 with 8000 keys, where out ~ |v|/sqrt(T_kv) shrinks but the fp32 sum's error does
// not), 1e-7..6e-7 (grads), lse abs error <= 1e-6; bounds leave ~2-5x headroom.
inline void expect_close_to_reference(const AttentionResults<float>& got,
                                      const AttentionResults<double>& ref) {
  using longctx::testing::max_rel_error;
  EXPECT_LT(max_rel_error(got.out, ref.out), 4e-6);
  EXPECT_LT(lse_diff(got.lse, ref.lse), 5e-6);  // lse is O(log T): absolute error
  EXPECT_LT(max_rel_error(got.dq, ref.dq), 3e-6);
  EXPECT_LT(max_rel_error(got.dk, ref.dk), 3e-6);
  EXPECT_LT(max_rel_error(got.dv, ref.dv), 3e-6);
  // Elementwise too, relative to each tensor's largest entry.
  EXPECT_LT(scaled_max(got.out, ref.out), 1e-5);
  EXPECT_LT(scaled_max(got.dq, ref.dq), 5e-5);
  EXPECT_LT(scaled_max(got.dk, ref.dk), 5e-5);
  EXPECT_LT(scaled_max(got.dv, ref.dv), 5e-5);
}

// The tiled kernels with bf16 tile products (bf16_products) against the double reference:
// every operand of a product rounded to bf16 (8 mantissa bits, relative error <= 2^-9).
// Errors observed on AVX-512 (both ways), AVX2 and scalar, causal and block kernels: up to
// 3.8e-3 (out), 8.4e-3 (grads) normalised L2, 9.1e-3 of the largest entry, lse 9.8e-3
// absolute (the same on every target: the operands' rounding dominates, not the order of
// the fp32 sums); bounds ~2.5x that. Returns the four errors (out, grads, largest entry, lse).
inline std::vector<double> expect_bf16_close_to_reference(const AttentionResults<float>& got,
                                                          const AttentionResults<double>& ref) {
  using longctx::testing::max_rel_error;
  const double e_out = max_rel_error(got.out, ref.out);
  const double e_grad = std::max({max_rel_error(got.dq, ref.dq), max_rel_error(got.dk, ref.dk),
                                  max_rel_error(got.dv, ref.dv)});
  const double e_max = std::max({scaled_max(got.out, ref.out), scaled_max(got.dq, ref.dq),
                                 scaled_max(got.dk, ref.dk), scaled_max(got.dv, ref.dv)});
  const double e_lse = lse_diff(got.lse, ref.lse);
  EXPECT_LT(e_out, 1e-2);
  EXPECT_LT(e_grad, 2e-2);
  EXPECT_LT(e_max, 2.5e-2);
  EXPECT_LT(e_lse, 2.5e-2);
  return {e_out, e_grad, e_max, e_lse};
}

// L(q, k, v) in double, e.g. sum(dout * out) of a reference forward.
using Loss = std::function<double(const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v)>;

// A reference backward (dq, dk, dv) is the derivative of its forward: central differences
// of `loss` in double, h = 1e-6 (truncation ~h^2, rounding ~1e-16/h), agree to 1e-8; and
// the check is not vacuous: dq is O(1).
inline void expect_gradients_match_finite_differences(
    const Loss& loss, const std::vector<double>& q, const std::vector<double>& k,
    const std::vector<double>& v, const std::vector<double>& dq, const std::vector<double>& dk,
    const std::vector<double>& dv) {
  using longctx::testing::finite_difference_gradient;
  using longctx::testing::max_abs_diff;
  const double h = 1e-6;
  const auto gq =
      finite_difference_gradient([&](const std::vector<double>& x) { return loss(x, k, v); }, q, h);
  const auto gk =
      finite_difference_gradient([&](const std::vector<double>& x) { return loss(q, x, v); }, k, h);
  const auto gv =
      finite_difference_gradient([&](const std::vector<double>& x) { return loss(q, k, x); }, v, h);
  EXPECT_LT(max_abs_diff(dq, gq), 1e-8);
  EXPECT_LT(max_abs_diff(dk, gk), 1e-8);
  EXPECT_LT(max_abs_diff(dv, gv), 1e-8);
  EXPECT_GT(max_abs_diff(dq, std::vector<double>(dq.size())), 1e-2);
}

// Same inputs and thread count: bit-identical results run to run. out, lse, dk and dv are
// independent of the thread count too; dq differs across thread counts in rounding only (the
// per-thread partials are summed in another grouping). `run` does one forward + backward.
inline void expect_deterministic_across_runs_and_threads(
    const std::function<AttentionResults<float>()>& run) {
  set_num_threads(2);
  const AttentionResults<float> a = run();
  const AttentionResults<float> b = run();
  set_num_threads(1);
  const AttentionResults<float> one = run();
  set_num_threads(0);
  EXPECT_TRUE(same_bits(a.out, b.out));
  EXPECT_TRUE(same_bits(a.lse, b.lse));
  EXPECT_TRUE(same_bits(a.dq, b.dq));
  EXPECT_TRUE(same_bits(a.dk, b.dk));
  EXPECT_TRUE(same_bits(a.dv, b.dv));
  EXPECT_TRUE(same_bits(a.out, one.out));
  EXPECT_TRUE(same_bits(a.lse, one.lse));
  EXPECT_TRUE(same_bits(a.dk, one.dk));
  EXPECT_TRUE(same_bits(a.dv, one.dv));
  EXPECT_LT(longctx::testing::max_rel_error(one.dq, a.dq), 1e-6);  // fp32 re-association
}

}  // namespace longctx::kernels::attention_testing
