#include "kernels/gemm_rate.h"

#include <time.h>

#include <algorithm>
#include <cmath>
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

GemmCandidate gemm_candidate(MatmulEngine engine) {
  return {matmul_engine_name(engine), engine == MatmulEngine::kOwn ? &gemm : &gemm_blas};
}

std::vector<GemmRate> measure_gemm_rates(const GemmShape& s,
                                         const std::vector<GemmCandidate>& candidates,
                                         double min_seconds) {
  const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
  Buffer<float> a(size_t(a_rows * a_cols)), b(size_t(b_rows * b_cols)), c(size_t(s.m * s.n));
  Buffer<float> c_first(size_t(s.m * s.n));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = u(rng);
  for (size_t i = 0; i < b.size(); ++i) b[i] = u(rng);
  GemmArgs g;
  g.M = s.m, g.N = s.n, g.K = s.k;
  g.a = a.data(), g.lda = a_cols, g.trans_a = s.trans_a;
  g.b = b.data(), g.ldb = b_cols, g.trans_b = s.trans_b;
  g.c = c.data(), g.ldc = s.n;
  const size_t n = candidates.size();
  std::vector<GemmRate> rates(n);
  std::vector<std::vector<double>> times(n);
  std::vector<double> best_cpu(n, 1e300), spent(n, 0.0);
  for (size_t e = 0; e < n; ++e) {
    rates[e].shape = s;
    rates[e].engine_name = candidates[e].name;
    candidates[e].run(g);  // warm caches, thread pool, page faults
    if (e == 0) {
      std::copy(c.data(), c.data() + c.size(), c_first.data());
      continue;
    }
    double diff = 0, scale = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      diff = std::max(diff, double(std::abs(c[i] - c_first[i])));
      scale = std::max(scale, double(std::abs(c_first[i])));
    }
    rates[e].max_rel_diff = scale > 0 ? diff / scale : diff;
  }
  auto done = [&] {
    for (size_t e = 0; e < n; ++e)
      if (spent[e] < min_seconds || times[e].size() < 3) return false;
    return true;
  };
  while (!done()) {
    for (size_t e = 0; e < n; ++e) {
      Timer t;
      const double c0 = process_cpu_seconds();
      candidates[e].run(g);
      const double wall = t.seconds();
      best_cpu[e] = std::min(best_cpu[e], process_cpu_seconds() - c0);
      times[e].push_back(wall);
      spent[e] += wall;
    }
  }
  for (size_t e = 0; e < n; ++e) {
    std::vector<double>& ts = times[e];
    std::sort(ts.begin(), ts.end());
    GemmRate& r = rates[e];
    r.reps = int(ts.size());
    r.best_gflops = s.flops() / ts.front() * 1e-9;
    r.median_gflops = s.flops() / ts[ts.size() / 2] * 1e-9;
    r.best_gflops_per_cpu_s = best_cpu[e] > 0 ? s.flops() / best_cpu[e] * 1e-9 : 0.0;
  }
  return rates;
}

GemmRate measure_gemm_rate(const GemmShape& s, MatmulEngine engine, double min_seconds) {
  GemmRate r = measure_gemm_rates(s, {gemm_candidate(engine)}, min_seconds).front();
  r.engine = engine;
  return r;
}

MachinePeaks measure_machine_peaks(double seconds) {
  MachinePeaks p;
  p.fma = measure_fma_peak(seconds);
  const GemmShape square{"square 2048", 2048, 2048, 2048, false, true};
  const std::vector<GemmRate> rates = measure_gemm_rates(
      square, {gemm_candidate(MatmulEngine::kOwn), gemm_candidate(MatmulEngine::kBlas)}, seconds);
  p.own_gemm_gflops = rates[0].best_gflops;
  p.blas_gemm_gflops = rates[1].best_gflops;
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
          {"nominal_clock_ghz", p.fma.nominal_clock_ghz},
          {"flop_per_cycle_per_core", p.fma.flop_per_cycle},
          {"theoretical_peak_gflops", p.fma.theoretical_gflops},
          {"theoretical_peak_rule",
           "threads x FLOP/cycle (measured FMA rate / (threads x clock), rounded to a power of "
           "2) x clock (measured running clock, see clock_source)"},
          {"own_gemm_gflops_square2048", p.own_gemm_gflops},
          {"blas_gemm_gflops_square2048", p.blas_gemm_gflops},
          {"best_gemm_gflops", p.best_gemm_gflops()},
          {"memory_read_gbps", p.memory.read_gbps},
          {"memory_read_buffer_bytes", p.memory.bytes}};
}

}  // namespace longctx::kernels
