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

inline std::string simd_test_name(const ::testing::TestParamInfo<int64_t>& info) {
  return simd_target_name(info.param);
}

}  // namespace longctx::kernels

#define LONGCTX_INSTANTIATE_PER_SIMD_TARGET(suite)                                      \
  INSTANTIATE_TEST_SUITE_P(Target, suite,                                                \
                           ::testing::ValuesIn(::longctx::kernels::simd_runnable_targets()), \
                           ::longctx::kernels::simd_test_name)
