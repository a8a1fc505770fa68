// matmul_peak: this machine's single-precision matrix-multiply throughput
// (cblas_sgemm through the configured BLAS), large square and model-shaped.
//
//   matmul_peak [--threads 2] [--seconds 1.0] [--quick] [--json out.json]
//
// Prints a table; --json writes {"peak_gflops": ..., "results": [...]}; the peak is
// the best rep over the square shapes (the denominator train_step uses for MFU).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/platform.h"
#include "matmul_peak.h"

using namespace longctx;

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

    std::vector<bench::SgemmResult> results;
    const double peak = bench::measure_peak_gflops(quick, seconds, &results);
    if (!quick) {
      for (const char* cfg : {"tiny", "small"}) {
        const int64_t T = std::strcmp(cfg, "tiny") == 0 ? 1024 : 2048;
        for (const auto& s : bench::model_shapes(cfg, T))
          results.push_back(bench::measure_sgemm(s, seconds / 4));
      }
    }
    std::printf("%-22s %6s %6s %6s %3s %3s %5s %10s %10s %6s\n", "shape", "m", "n", "k", "tA",
                "tB", "reps", "best GF/s", "median", "%peak");
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : results) {
      const auto& s = r.shape;
      std::printf("%-22s %6ld %6ld %6ld %3d %3d %5d %10.1f %10.1f %5.0f%%\n", s.name.c_str(),
                  long(s.m), long(s.n), long(s.k), int(s.trans_a), int(s.trans_b), r.reps,
                  r.best_gflops, r.median_gflops, 100.0 * r.best_gflops / peak);
      rows.push_back({{"shape", s.name}, {"m", s.m}, {"n", s.n}, {"k", s.k},
                      {"trans_a", s.trans_a}, {"trans_b", s.trans_b}, {"reps", r.reps},
                      {"best_gflops", r.best_gflops}, {"median_gflops", r.median_gflops}});
    }
    std::printf("peak (best square): %.1f GFLOP/s with %d threads\n", peak, threads);
    nlohmann::json out = {{"bench", "matmul_peak"}, {"threads", threads},
                          {"peak_gflops", peak}, {"results", rows},
                          {"platform", longctx::kernels::platform_json()}};
    std::printf("%s\n", out.dump().c_str());
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
