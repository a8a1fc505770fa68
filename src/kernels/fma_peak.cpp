#include "kernels/fma_peak.h"

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fma_peak.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/error.h"
#include "kernels/simd.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

// 12 independent FMA chains (enough to cover 4-cycle latency on 2-3 FMA pipes) for
// `iters` rounds; returns the FLOPs done. The result feeds a volatile sink so the
// compiler keeps every FMA.
double fma_chains(int64_t iters) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const auto m = hn::Set(d, 0.9999999f), c = hn::Set(d, 1e-7f);
  auto a0 = hn::Set(d, 1.0f), a1 = hn::Set(d, 1.1f), a2 = hn::Set(d, 1.2f), a3 = hn::Set(d, 1.3f);
  auto a4 = hn::Set(d, 1.4f), a5 = hn::Set(d, 1.5f), a6 = hn::Set(d, 1.6f), a7 = hn::Set(d, 1.7f);
  auto a8 = hn::Set(d, 1.8f), a9 = hn::Set(d, 1.9f), a10 = hn::Set(d, 2.0f), a11 = hn::Set(d, 2.1f);
  for (int64_t i = 0; i < iters; ++i) {
    a0 = hn::MulAdd(a0, m, c), a1 = hn::MulAdd(a1, m, c), a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c), a4 = hn::MulAdd(a4, m, c), a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c), a7 = hn::MulAdd(a7, m, c), a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c), a10 = hn::MulAdd(a10, m, c), a11 = hn::MulAdd(a11, m, c);
  }
  const auto s = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)),
                                 hn::Add(hn::Add(a8, a9), hn::Add(a10, a11))));
  volatile float sink = hn::GetLane(hn::SumOfLanes(d, s));
  (void)sink;
  return 2.0 * 12.0 * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iters);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(fma_chains);

namespace {

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Nominal clock: the highest "cpu MHz" in /proc/cpuinfo (virtual machines report the
// host's nominal frequency there; turbo is not included).
double cpuinfo_mhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double best = 0.0;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) best = std::max(best, std::atof(line.c_str() + colon + 1));
  }
  return best;
}

// The running clock (boost included) in GHz, measured: a chain of dependent integer adds
// retires one add per cycle on every x86-64 core, so adds per second of the thread's CPU
// time is its clock. 0 off x86-64.
double adds_per_cpu_second(double seconds) {
#if defined(__x86_64__)
  uint64_t x = 0;
  int64_t rounds = 1 << 12;
  for (;;) {
    const double c0 = thread_cpu_seconds();
    for (int64_t i = 0; i < rounds; ++i)
      asm volatile(".rept 256\n\taddq $1, %0\n\t.endr" : "+r"(x));
    const double dt = thread_cpu_seconds() - c0;
    if (dt > std::max(seconds, 0.005) || rounds > (int64_t{1} << 30)) return 256.0 * double(rounds) / dt;
    rounds *= 4;
  }
#else
  (void)seconds;
  return 0.0;
#endif
}

}  // namespace

FmaPeak measure_fma_peak(double seconds) {
  FmaPeak p;
  p.simd_target = simd_target_name(simd_dispatched_target());
  p.threads = omp_get_max_threads();
  using clock = std::chrono::steady_clock;
  // Calibrate the rounds per call on one thread, then run all threads together.
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = clock::now();
    HWY_DYNAMIC_DISPATCH(fma_chains)(iters);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0.01 || iters > (int64_t{1} << 34)) {
      iters = static_cast<int64_t>(static_cast<double>(iters) * std::max(seconds, 0.005) / dt) + 1;
      break;
    }
    iters *= 4;
  }
  std::vector<double> flops(static_cast<size_t>(p.threads), 0.0), rate(flops);
  const auto t0 = clock::now();
#pragma omp parallel num_threads(p.threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const double c0 = thread_cpu_seconds();
    flops[t] = HWY_DYNAMIC_DISPATCH(fma_chains)(iters);
    rate[t] = flops[t] / std::max(thread_cpu_seconds() - c0, 1e-9);
  }
  const double dt = std::chrono::duration<double>(clock::now() - t0).count();
  double total = 0.0;
  for (size_t t = 0; t < flops.size(); ++t) total += flops[t], p.gflops += rate[t] * 1e-9;
  p.gflops_wall = total / dt * 1e-9;
  // The clock: measured on every thread at once (as the FMAs ran), else /proc/cpuinfo's
  // nominal figure, which leaves out boost (a Zen 4 VM: 2.6 GHz nominal, 3.7 running).
  std::vector<double> hz(static_cast<size_t>(p.threads), 0.0);
#pragma omp parallel num_threads(p.threads)
  hz[static_cast<size_t>(omp_get_thread_num())] = adds_per_cpu_second(std::min(seconds, 0.1));
  std::sort(hz.begin(), hz.end());
  const double measured_ghz = hz[hz.size() / 2] * 1e-9;
  const double mhz = cpuinfo_mhz();
  p.nominal_clock_ghz = mhz * 1e-3;
  if (measured_ghz > 0.0) {
    p.clock_ghz = measured_ghz;
    p.clock_source = "measured: dependent integer adds (1 per cycle) per CPU-second, median of the threads";
    if (mhz > 0.0) p.clock_source += strformat("; /proc/cpuinfo says %.3f GHz nominal", mhz * 1e-3);
  } else if (mhz > 0.0) {
    p.clock_ghz = mhz * 1e-3;
    p.clock_source = "/proc/cpuinfo cpu MHz (nominal, no turbo)";
  } else {
    p.clock_source = "unknown (no cpu MHz in /proc/cpuinfo)";
  }
  if (p.clock_ghz > 0.0) {
    const double per_cycle = p.gflops / (p.threads * p.clock_ghz);
    p.flop_per_cycle = std::exp2(std::round(std::log2(per_cycle)));
    p.theoretical_gflops = p.threads * p.flop_per_cycle * p.clock_ghz;
  }
  return p;
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
