// Per-target kernel tests (Highway's per-target test pattern): a TEST_P of a suite
// derived from PerSimdTarget runs once per SIMD target that is compiled into the binary
// and runnable on this CPU (the scalar fallback always, AVX2, AVX3 where present), with
// dispatch pinned to that target, so every path is checked against the double references.
//
//   class RmsNormSimd : public longctx::kernels::PerSimdTarget {};
//   TEST_P(RmsNormSimd, MatchesReference) { ... }
//   LONGCTX_INSTANTIATE_PER_SIMD_TARGET(RmsNormSimd);
#pragma once
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/simd.h"

namespace longctx::kernels {

class PerSimdTarget : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    guard_.emplace(GetParam());
    ASSERT_EQ(simd_dispatched_target(), GetParam()) << "dispatch did not switch target";
  }
  void TearDown() override { guard_.reset(); }

 private:
  std::optional<ScopedSimdTarget> guard_;
};

// The ways products with bf16 inputs run on the dispatched target: with the CPU's bf16
// dot-product instruction where it has one (gemm_bf16_instruction(); used by the AVX-512
// targets), and always as fp32 FMAs on the rounded operands. Each way is set for the
// scope of a Bf16Way and the default (the instruction allowed) restored after.
inline std::vector<bool> bf16_ways() {
  return gemm_bf16_instruction() ? std::vector<bool>{true, false} : std::vector<bool>{false};
}

struct Bf16Way {
  explicit Bf16Way(bool instruction) { set_gemm_bf16_instruction(instruction); }
  ~Bf16Way() { set_gemm_bf16_instruction(true); }
  Bf16Way(const Bf16Way&) = delete;
  Bf16Way& operator=(const Bf16Way&) = delete;
};

inline bool avx512_target(int64_t target) {
  return std::string(simd_target_name(target)).rfind("AVX3", 0) == 0;
}

inline std::string simd_test_name(const ::testing::TestParamInfo<int64_t>& info) {
  return simd_target_name(info.param);
}

}  // namespace longctx::kernels

#define LONGCTX_INSTANTIATE_PER_SIMD_TARGET(suite)                                      \
  INSTANTIATE_TEST_SUITE_P(Target, suite,                                                \
                           ::testing::ValuesIn(::longctx::kernels::simd_runnable_targets()), \
                           ::longctx::kernels::simd_test_name)
