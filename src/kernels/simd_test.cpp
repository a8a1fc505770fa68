// The dispatch policy itself: which targets are compiled, which one runs, and that
// tests can pin each one (the per-target kernel tests rely on it).
#include "kernels/simd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/platform.h"

namespace longctx::kernels {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::vector<std::string> names(const std::vector<int64_t>& targets) {
  std::vector<std::string> out;
  for (int64_t t : targets) out.push_back(simd_target_name(t));
  return out;
}

TEST(Simd, DispatchesToTheBestRunnableTarget) {
  const auto runnable = simd_runnable_targets();
  ASSERT_FALSE(runnable.empty());
  EXPECT_EQ(simd_dispatched_target(), runnable.front());
  // The scalar fallback is compiled and runnable everywhere, and is the worst target
  // (HWY_SCALAR with GCC < 12.3, HWY_EMU128 with newer GCC and clang).
  const std::string fallback = simd_target_name(runnable.back());
  EXPECT_TRUE(fallback == "SCALAR" || fallback == "EMU128") << fallback;
  for (int64_t t : runnable)
    EXPECT_TRUE(contains(names(simd_compiled_targets()), simd_target_name(t)));
}

#if defined(__x86_64__)
TEST(Simd, X86BuildCarriesAvx2AndAvx512WhateverTheBuildMachine) {
  // A binary built on an AVX2-only machine must still carry the AVX-512 code, and a
  // CPU with AVX-512 must choose it.
  const auto compiled = names(simd_compiled_targets());
  EXPECT_TRUE(contains(compiled, "AVX2"));
  EXPECT_TRUE(contains(compiled, "AVX3"));
  const CpuFeatures& cpu = cpu_features();
  const std::string chosen = simd_target_name(simd_dispatched_target());
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq) {
    EXPECT_TRUE(chosen == "AVX3" || chosen == "AVX3_DL") << chosen;
  } else if (cpu.avx2 && cpu.fma) {
    EXPECT_EQ(chosen, "AVX2");
  }
}
#endif

TEST(Simd, ScopedTargetPinsDispatchAndRestoresIt) {
  const int64_t best = simd_dispatched_target();
  for (int64_t t : simd_runnable_targets()) {
    ScopedSimdTarget pin(t);
    EXPECT_EQ(simd_dispatched_target(), t) << simd_target_name(t);
  }
  EXPECT_EQ(simd_dispatched_target(), best);
  // A target bit that is not compiled in is refused with its name.
  int64_t missing = 0;
  for (int bit = 0; bit < 63 && missing == 0; ++bit) {
    const int64_t t = int64_t{1} << bit;
    if (!contains(names(simd_compiled_targets()), simd_target_name(t)) &&
        simd_target_name(t) != "Unknown")
      missing = t;
  }
  if (missing != 0) {
    EXPECT_THROW(ScopedSimdTarget pin(missing), Error);
  }
}

TEST(Platform, JsonNamesEveryFactBenchmarksRecord) {
  const nlohmann::json j = platform_json();
  for (const char* key : {"longctx_version", "build", "simd_target", "simd_compiled", "simd_runnable",
                          "blas", "blas_core", "blas_threading", "threads", "cpu_model", "cpu_flags"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["simd_target"], simd_target_name(simd_dispatched_target()));
  for (const char* flag : {"avx2", "fma", "avx512f", "avx512_bf16"})
    EXPECT_TRUE(j["cpu_flags"].contains(flag)) << flag;
  EXPECT_GE(j["threads"].get<int>(), 1);
#if defined(LONGCTX_BLAS_OPENBLAS)
  EXPECT_EQ(j["blas"].get<std::string>().rfind("OpenBLAS", 0), 0u) << j["blas"];
  EXPECT_FALSE(j["blas_core"].get<std::string>().empty());
#endif
  const std::string text = platform_text();
  EXPECT_NE(text.find("SIMD target:"), std::string::npos);
  EXPECT_EQ(j["matmul_bf16_method"], matmul_bf16_method());
  EXPECT_NE(text.find("bf16 products:  " + matmul_bf16_method()), std::string::npos);
}

// How bf16 products run is stated truthfully per target: vdpbf16ps only on an AVX-512 target
// of a CPU with AVX512_BF16 and the instruction allowed, otherwise the fallback with its reason.
TEST(Platform, Bf16MethodFollowsTargetCpuAndSwitch) {
  const bool cpu_bf16 = cpu_features().avx512_bf16;
  for (int64_t target : simd_runnable_targets()) {
    const ScopedSimdTarget pin(target);
    const bool avx512 = simd_target_name(target).rfind("AVX3", 0) == 0;
    SCOPED_TRACE(simd_target_name(target));
    const std::string on = matmul_bf16_method();
    EXPECT_EQ(on == "vdpbf16ps (AVX512_BF16)", avx512 && cpu_bf16) << on;
    if (!(avx512 && cpu_bf16)) {
      EXPECT_NE(on.find(cpu_bf16 ? "not AVX-512" : "no AVX512_BF16"), std::string::npos) << on;
      continue;
    }
    set_gemm_bf16_instruction(false);
    const std::string off = matmul_bf16_method();
    set_gemm_bf16_instruction(true);
    EXPECT_NE(off.find("turned off"), std::string::npos) << off;
  }
}

}  // namespace
}  // namespace longctx::kernels
