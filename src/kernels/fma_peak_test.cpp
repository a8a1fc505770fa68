// The CPU's FMA ceiling and its theoretical peak: the measured clock is a plausible running
// clock and repeats (a loop the compiler shortened, or a wrong count of adds per round,
// would give an absurd or unstable figure), FLOP/cycle is a power of two a SIMD unit can
// have, and the theoretical peak is cores x FLOP/cycle x clock.
#include "kernels/fma_peak.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace longctx::kernels {
namespace {

TEST(FmaPeak, ClockFlopPerCycleAndTheoreticalPeakAreConsistent) {
  const FmaPeak p = measure_fma_peak(0.02);
  EXPECT_GE(p.threads, 1);
  EXPECT_GT(p.gflops, 0.5);  // any FMA-capable core does more than 0.5 GFLOP/s
  EXPECT_FALSE(p.simd_target.empty());
#if defined(__x86_64__)
  // Measured on x86-64: between 0.4 and 6.5 GHz (the fastest boost clocks sold reach 6.2).
  EXPECT_NE(p.clock_source.find("measured"), std::string::npos) << p.clock_source;
  EXPECT_GT(p.clock_ghz, 0.4);
  EXPECT_LT(p.clock_ghz, 6.5);
#endif
  if (p.clock_ghz > 0.0) {
    const double l2 = std::log2(p.flop_per_cycle);
    EXPECT_EQ(l2, std::round(l2)) << p.flop_per_cycle << " FLOP/cycle is not a power of two";
    EXPECT_GE(p.flop_per_cycle, 2.0);
    EXPECT_LE(p.flop_per_cycle, 128.0);  // 2 x 512-bit FMA units x 16 lanes x 2 = 64 today
    EXPECT_DOUBLE_EQ(p.theoretical_gflops, p.threads * p.flop_per_cycle * p.clock_ghz);
  }
#if defined(__x86_64__)
  // The clock per CPU-second does not depend on other jobs taking turns on the cores: a
  // second measurement agrees within 15% (boost states aside).
  const FmaPeak again = measure_fma_peak(0.02);
  EXPECT_NEAR(again.clock_ghz / p.clock_ghz, 1.0, 0.15);
#endif
}

}  // namespace
}  // namespace longctx::kernels
