// The CPU's real floating-point ceiling, measured rather than assumed: independent chains
// of vector FMAs on the dispatched SIMD target in every thread, no memory traffic. This
// is the denominator that does not depend on any library (a BLAS library that picks an
// AVX2 kernel on an AVX-512 CPU reaches half of it), next to the best measured GEMM rate.
#pragma once
#include <string>

namespace longctx::kernels {

struct FmaPeak {
  // Measured, all threads together (fp32, FMA = 2 FLOP): the sum over threads of FLOPs per
  // second of that thread's own CPU time, i.e. what the cores do when they run, which other
  // jobs on a shared machine do not lower the way they lower wall-clock rates.
  double gflops = 0.0;
  double gflops_wall = 0.0;      // FLOPs of all threads / wall time (lower on a busy machine)
  int threads = 0;
  std::string simd_target;       // target whose FMAs were timed
  double clock_ghz = 0.0;        // running clock, measured (see clock_source), 0 when unknown
  double nominal_clock_ghz = 0.0;  // /proc/cpuinfo's cpu MHz (no boost), 0 when absent
  std::string clock_source;      // where clock_ghz comes from
  double flop_per_cycle = 0.0;   // per core: measured / (threads x clock), rounded to a power of 2
  double theoretical_gflops = 0.0;  // threads x flop_per_cycle x clock_ghz (0 when no clock)
};

// Runs for about `seconds` (at least a few milliseconds) on the current thread count.
FmaPeak measure_fma_peak(double seconds = 0.3);

}  // namespace longctx::kernels
