// matmul_peak: this machine's single-precision matrix-multiply throughput, the project's
// own GEMM and the configured BLAS library side by side (each shape measured with both,
// alternating), large square and model-shaped, next to the CPU's measured FMA ceiling.
//
//   matmul_peak [--threads 2] [--seconds 1.0] [--quick] [--json out.json]
//
// Prints a table; --json writes {"peaks": ..., "results": [...], "platform": ...}. The
// "peak" of each engine is its best rep over the square shapes; train_step measures the
// same in its own process as its MFU denominator.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/fma_peak.h"
#include "kernels/platform.h"
#include "matmul_peak.h"

using namespace longctx;
using kernels::MatmulEngine;

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 1.0;
  bool quick = false;
  std::string json_path;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&](const char* flag) -> std::string {
        LONGCTX_CHECK(i + 1 < argc, "matmul_peak: %s needs a value", flag);
        return argv[++i];
      };
      if (a == "--threads") {
        threads = std::stoi(value("--threads"));
      } else if (a == "--seconds") {
        seconds = std::stod(value("--seconds"));
      } else if (a == "--quick") {
        quick = true;
      } else if (a == "--json") {
        json_path = value("--json");
      } else {
        LONGCTX_CHECK(false, "matmul_peak: unknown flag '%s' (known: --threads --seconds --quick --json)",
                      a.c_str());
      }
    }
    LONGCTX_CHECK(threads > 0, "matmul_peak: --threads must be positive, got %d", threads);
    set_num_threads(threads);

    const kernels::FmaPeak fma = kernels::measure_fma_peak(std::min(seconds, 1.0));
    std::vector<kernels::GemmShape> shapes = bench::square_shapes(quick);
    if (!quick) {
      for (const char* cfg : {"tiny", "small"}) {
        const int64_t T = std::strcmp(cfg, "tiny") == 0 ? 1024 : 2048;
        for (const auto& s : bench::model_shapes(cfg, T)) shapes.push_back(s);
      }
    }
    double peak_own = 0, peak_blas = 0;
    std::printf("%-22s %6s %6s %6s %3s %3s %10s %10s %7s %7s %12s %12s\n", "shape", "m", "n", "k",
                "tA", "tB", "own GF/s", "BLAS GF/s", "own/BL", "own/FMA", "own GF/cpu-s",
                "BLAS GF/cpu-s");
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : shapes) {
      const double secs = s.name.rfind("square", 0) == 0 ? seconds : seconds / 4;
      const kernels::GemmRate own = kernels::measure_gemm_rate(s, MatmulEngine::kOwn, secs);
      const kernels::GemmRate blas = kernels::measure_gemm_rate(s, MatmulEngine::kBlas, secs);
      if (s.name.rfind("square", 0) == 0) {
        peak_own = std::max(peak_own, own.best_gflops);
        peak_blas = std::max(peak_blas, blas.best_gflops);
      }
      std::printf("%-22s %6ld %6ld %6ld %3d %3d %10.1f %10.1f %7.2f %6.0f%% %12.1f %12.1f\n",
                  s.name.c_str(), long(s.m), long(s.n), long(s.k), int(s.trans_a), int(s.trans_b),
                  own.best_gflops, blas.best_gflops, own.best_gflops / blas.best_gflops,
                  100.0 * own.best_gflops / fma.gflops, own.best_gflops_per_cpu_s,
                  blas.best_gflops_per_cpu_s);
      rows.push_back({{"shape", s.name}, {"m", s.m}, {"n", s.n}, {"k", s.k},
                      {"trans_a", s.trans_a}, {"trans_b", s.trans_b},
                      {"own_best_gflops", own.best_gflops}, {"own_median_gflops", own.median_gflops},
                      {"own_reps", own.reps}, {"blas_best_gflops", blas.best_gflops},
                      {"blas_median_gflops", blas.median_gflops}, {"blas_reps", blas.reps},
                      {"own_best_gflops_per_cpu_s", own.best_gflops_per_cpu_s},
                      {"blas_best_gflops_per_cpu_s", blas.best_gflops_per_cpu_s}});
    }
    std::printf("FMA ceiling (%s, %d threads): %.1f GFLOP/s measured; %.0f FLOP/cycle/core x %.3f GHz "
                "(%s) -> %.1f GFLOP/s theoretical\n",
                fma.simd_target.c_str(), fma.threads, fma.gflops, fma.flop_per_cycle, fma.clock_ghz,
                fma.clock_source.c_str(), fma.theoretical_gflops);
    std::printf("best square: own %.1f GFLOP/s (%.0f%% of FMA), BLAS %.1f GFLOP/s (%.0f%% of FMA), "
                "own/BLAS %.2f\n",
                peak_own, 100 * peak_own / fma.gflops, peak_blas, 100 * peak_blas / fma.gflops,
                peak_own / peak_blas);
    nlohmann::json out = {{"bench", "matmul_peak"},
                          {"threads", threads},
                          {"peak_gflops", std::max(peak_own, peak_blas)},
                          {"peak_own_gflops", peak_own},
                          {"peak_blas_gflops", peak_blas},
                          {"fma_peak_gflops", fma.gflops},
                          {"theoretical_peak_gflops", fma.theoretical_gflops},
                          {"clock_ghz", fma.clock_ghz},
                          {"flop_per_cycle_per_core", fma.flop_per_cycle},
                          {"results", rows},
                          {"platform", kernels::platform_json()}};
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      LONGCTX_CHECK(f.good(), "matmul_peak: cannot write --json '%s'", json_path.c_str());
      f << out.dump(2) << "\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
