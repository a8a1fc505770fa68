// matmul_peak: this machine's single-precision matrix-multiply throughput, the project's
// own GEMM and the configured BLAS library side by side (each shape measured with both,
// alternating), large square and model-shaped, next to the CPU's measured FMA ceiling.
//
//   matmul_peak [--threads 2] [--seconds 1.0] [--quick] [--shape M,N,K,TA,TB ...]
//               [--blis PATH|off] [--bf16] [--json out.json]
//
// --shape (repeatable) measures only the given shapes (TA/TB: 0 or 1), e.g.
// --shape 2048,2048,2048,0,1 for a square x @ W^T. --blis adds BLIS as a third engine,
// loaded at run time (bench/blis_gemm.h; default: Debian's OpenMP build, skipped with a
// note when absent). The engines alternate call by call on the same operands
// (kernels::measure_gemm_rates), so their ratios are taken under the same conditions.
// --bf16 adds the own GEMM with bf16 inputs (fp32 accumulation; vdpbf16ps where the CPU has
// AVX512_BF16) as a last engine, "own-bf16", checked against the fp32 result within the
// rounding of bf16 operands instead of fp32's.
//
// Prints a table; --json writes {"peaks": ..., "results": [...], "platform": ...}. The
// "peak" of each engine is its best rep over the square shapes; train_step measures the
// same in its own process as its MFU denominator.
#include <algorithm>
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
#include "blis_gemm.h"
#include "matmul_peak.h"

using namespace longctx;
using kernels::MatmulEngine;

int main(int argc, char** argv) {
  int threads = 2;
  double seconds = 1.0;
  bool quick = false;
  bool bf16 = false;
  std::string json_path;
  std::vector<kernels::GemmShape> only;
  std::string blis_path = bench::kDefaultBlisPath;
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
      } else if (a == "--shape") {
        const std::string v = value("--shape");
        long m, n, k;
        int ta, tb;
        char tail;
        LONGCTX_CHECK(std::sscanf(v.c_str(), "%ld,%ld,%ld,%d,%d%c", &m, &n, &k, &ta, &tb, &tail) == 5 &&
                          m > 0 && n > 0 && k > 0 && (ta == 0 || ta == 1) && (tb == 0 || tb == 1),
                      "matmul_peak: --shape wants M,N,K,TA,TB (positive sizes, TA/TB 0 or 1), got '%s'",
                      v.c_str());
        only.push_back({"shape " + v, m, n, k, ta == 1, tb == 1});
      } else if (a == "--blis") {
        blis_path = value("--blis");
      } else if (a == "--bf16") {
        bf16 = true;
      } else if (a == "--json") {
        json_path = value("--json");
      } else {
        LONGCTX_CHECK(false, "matmul_peak: unknown flag '%s' (known: --threads --seconds --quick --shape --blis --bf16 --json)",
                      a.c_str());
      }
    }
    LONGCTX_CHECK(threads > 0, "matmul_peak: --threads must be positive, got %d", threads);
    set_num_threads(threads);

    const kernels::FmaPeak fma = kernels::measure_fma_peak(std::min(seconds, 1.0));
    std::vector<kernels::GemmShape> shapes = only.empty() ? bench::square_shapes(quick) : only;
    if (!quick && only.empty()) {
      for (const char* cfg : {"tiny", "small"}) {
        const int64_t T = std::strcmp(cfg, "tiny") == 0 ? 1024 : 2048;
        for (const auto& s : bench::model_shapes(cfg, T)) shapes.push_back(s);
      }
    }
    std::vector<kernels::GemmCandidate> engines = {kernels::gemm_candidate(MatmulEngine::kOwn),
                                                   kernels::gemm_candidate(MatmulEngine::kBlas)};
    nlohmann::json blis_json = {{"loaded", false}};
    if (blis_path != "off") {
      const bench::BlisLibrary& blis = bench::load_blis(blis_path, threads);
      if (blis.loaded) {
        engines.push_back(bench::blis_candidate());
        blis_json = {{"loaded", true}, {"path", blis.path}, {"version", blis.version},
                     {"config", blis.config}};
        std::printf("BLIS %s from %s, kernel configuration %s\n", blis.version.c_str(),
                    blis.path.c_str(), blis.config.c_str());
      } else {
        blis_json["error"] = blis.error;
        std::printf("BLIS not measured: %s (--blis PATH or off)\n", blis.error.c_str());
      }
    }
    if (bf16) {
      engines.push_back({"own-bf16", [](const kernels::GemmArgs& g) {
                           kernels::GemmArgs b = g;
                           b.bf16_inputs = true;
                           kernels::gemm(b);
                         }});
      std::printf("own-bf16: bf16 inputs, %s\n", kernels::matmul_bf16_method().c_str());
    }
    const size_t n_eng = engines.size();
    const auto peak_of = [&](const std::vector<double>& peaks, const char* name) {
      for (size_t e = 0; e < n_eng; ++e)
        if (engines[e].name == name) return peaks[e];
      return 0.0;
    };
    std::vector<double> peaks(n_eng, 0.0);
    std::printf("%-22s %6s %6s %6s %3s %3s", "shape", "m", "n", "k", "tA", "tB");
    for (const auto& e : engines) std::printf(" %9s GF/s", e.name.c_str());
    std::printf(" %8s %8s %7s\n", "own/BLAS", "own/best", "own/FMA");
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : shapes) {
      const bool square = s.name.rfind("square", 0) == 0;
      const double secs = square || !only.empty() ? seconds : seconds / 4;
      const std::vector<kernels::GemmRate> r = kernels::measure_gemm_rates(s, engines, secs);
      double best_other = 0;
      for (size_t e = 0; e < n_eng; ++e) {
        if (square) peaks[e] = std::max(peaks[e], r[e].best_gflops);
        if (e > 0 && engines[e].name != "own-bf16") best_other = std::max(best_other, r[e].best_gflops);
      }
      std::printf("%-22s %6ld %6ld %6ld %3d %3d", s.name.c_str(), long(s.m), long(s.n), long(s.k),
                  int(s.trans_a), int(s.trans_b));
      for (size_t e = 0; e < n_eng; ++e) std::printf(" %14.1f", r[e].best_gflops);
      std::printf(" %8.2f %8.2f %6.0f%%\n", r[0].best_gflops / r[1].best_gflops,
                  r[0].best_gflops / std::max(best_other, r[0].best_gflops),
                  100.0 * r[0].best_gflops / fma.gflops);
      nlohmann::json row = {{"shape", s.name}, {"m", s.m}, {"n", s.n}, {"k", s.k},
                            {"trans_a", s.trans_a}, {"trans_b", s.trans_b}};
      for (size_t e = 0; e < n_eng; ++e) {
        const std::string& n = engines[e].name;
        row[n + "_best_gflops"] = r[e].best_gflops;
        row[n + "_median_gflops"] = r[e].median_gflops;
        row[n + "_reps"] = r[e].reps;
        row[n + "_best_gflops_per_cpu_s"] = r[e].best_gflops_per_cpu_s;
        if (e > 0) row[n + "_max_rel_diff_vs_own"] = r[e].max_rel_diff;
        // bf16 operands carry 8 mantissa bits: errors of a few 2^-9 relative to max |C|.
        const double limit = n == "own-bf16" ? 2e-2 : 1e-4;
        LONGCTX_CHECK(r[e].max_rel_diff < limit,
                      "matmul_peak: %s's result differs from the own GEMM's by %.3g (relative) "
                      "at %s: wrong library or binding",
                      n.c_str(), r[e].max_rel_diff, s.name.c_str());
      }
      rows.push_back(row);
    }
    const double peak_own = peaks[0], peak_blas = peaks[1];
    const double peak_best = std::max({peak_own, peak_blas, peak_of(peaks, "blis")});  // fp32
    std::printf("FMA ceiling (%s, %d threads): %.1f GFLOP/s measured; %.0f FLOP/cycle/core x %.3f GHz "
                "(%s) -> %.1f GFLOP/s theoretical\n",
                fma.simd_target.c_str(), fma.threads, fma.gflops, fma.flop_per_cycle, fma.clock_ghz,
                fma.clock_source.c_str(), fma.theoretical_gflops);
    if (peak_best > 0) {
      std::printf("best square:");
      for (size_t e = 0; e < n_eng; ++e)
        std::printf(" %s %.1f GFLOP/s (%.0f%% of FMA)%s", engines[e].name.c_str(), peaks[e],
                    100 * peaks[e] / fma.gflops, e + 1 < n_eng ? "," : "");
      std::printf("; own/best %.2f\n", peak_own / peak_best);
    }
    nlohmann::json out = {{"bench", "matmul_peak"},
                          {"threads", threads},
                          {"peak_gflops", peak_best},
                          {"peak_own_gflops", peak_own},
                          {"peak_blas_gflops", peak_blas},
                          {"peak_blis_gflops", peak_of(peaks, "blis")},
                          {"peak_own_bf16_gflops", peak_of(peaks, "own-bf16")},
                          {"bf16_method", bf16 ? kernels::matmul_bf16_method() : ""},
                          {"blis", blis_json},
                          {"fma_peak_gflops", fma.gflops},
                          {"theoretical_peak_gflops", fma.theoretical_gflops},
                          {"clock_ghz", fma.clock_ghz},
                          {"nominal_clock_ghz", fma.nominal_clock_ghz},
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
