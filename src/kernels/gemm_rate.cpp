#include "kernels/gemm_rate.h"

#include <time.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/buffer.h"
#include "core/timer.h"

namespace longctx::kernels {

namespace {
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
}  // namespace

GemmRate measure_gemm_rate(const GemmShape& s, MatmulEngine engine, double min_seconds) {
  const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
  Buffer<float> a(size_t(a_rows * a_cols)), b(size_t(b_rows * b_cols)), c(size_t(s.m * s.n));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = u(rng);
  for (size_t i = 0; i < b.size(); ++i) b[i] = u(rng);
  GemmArgs g;
  g.M = s.m, g.N = s.n, g.K = s.k;
  g.a = a.data(), g.lda = a_cols, g.trans_a = s.trans_a;
  g.b = b.data(), g.ldb = b_cols, g.trans_b = s.trans_b;
  g.c = c.data(), g.ldc = s.n;
  auto call = [&] { engine == MatmulEngine::kOwn ? gemm(g) : gemm_blas(g); };
  call();  // warm caches, thread pool, page faults
  std::vector<double> times;
  double best_cpu = 1e300;
  Timer total;
  while (total.seconds() < min_seconds || times.size() < 3) {
    Timer t;
    const double c0 = process_cpu_seconds();
    call();
    times.push_back(t.seconds());
    best_cpu = std::min(best_cpu, process_cpu_seconds() - c0);
  }
  std::sort(times.begin(), times.end());
  GemmRate r;
  r.shape = s;
  r.engine = engine;
  r.reps = int(times.size());
  r.best_gflops = s.flops() / times.front() * 1e-9;
  r.median_gflops = s.flops() / times[times.size() / 2] * 1e-9;
  r.best_gflops_per_cpu_s = best_cpu > 0 ? s.flops() / best_cpu * 1e-9 : 0.0;
  return r;
}

MachinePeaks measure_machine_peaks(double seconds) {
  MachinePeaks p;
  p.fma = measure_fma_peak(seconds);
  const GemmShape square{"square 2048", 2048, 2048, 2048, false, true};
  p.own_gemm_gflops = measure_gemm_rate(square, MatmulEngine::kOwn, seconds).best_gflops;
  p.blas_gemm_gflops = measure_gemm_rate(square, MatmulEngine::kBlas, seconds).best_gflops;
  p.memory = measure_memory_bandwidth(seconds);
  return p;
}

nlohmann::json machine_peaks_json(const MachinePeaks& p) {
  return {{"fma_peak_gflops", p.fma.gflops},
          {"fma_peak_gflops_wall", p.fma.gflops_wall},
          {"fma_peak_threads", p.fma.threads},
          {"fma_peak_simd_target", p.fma.simd_target},
          {"clock_ghz", p.fma.clock_ghz},
          {"clock_source", p.fma.clock_source},
          {"flop_per_cycle_per_core", p.fma.flop_per_cycle},
          {"theoretical_peak_gflops", p.fma.theoretical_gflops},
          {"theoretical_peak_rule",
           "threads x FLOP/cycle (measured FMA rate / (threads x clock), rounded to a power of "
           "2) x nominal clock"},
          {"own_gemm_gflops_square2048", p.own_gemm_gflops},
          {"blas_gemm_gflops_square2048", p.blas_gemm_gflops},
          {"best_gemm_gflops", p.best_gemm_gflops()},
          {"memory_read_gbps", p.memory.read_gbps},
          {"memory_read_buffer_bytes", p.memory.bytes}};
}

}  // namespace longctx::kernels
