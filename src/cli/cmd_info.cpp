// `longctx info [--json] [--no-measure]`: what this binary runs on this machine (version,
// build, the SIMD target chosen at run time and the compiled ones, the BLAS library with
// its kernel and threading, the matrix-product engine, the thread count, the CPU's
// relevant features) and, measured on the spot, the FMA ceiling and the GEMM rates.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/registry.h"
#include "kernels/gemm_rate.h"
#include "kernels/platform.h"

namespace longctx::cli {
namespace {

struct InfoArgs {
  bool json = false;
  bool measure = true;
  double seconds = 0.3;
};

void print_peaks_text(const kernels::MachinePeaks& p) {
  const kernels::FmaPeak& f = p.fma;
  std::printf("FMA ceiling:    %.1f GFLOP/s measured (%s, %d threads, independent FMA chains)\n",
              f.gflops, f.simd_target.c_str(), f.threads);
  if (f.clock_ghz > 0) {
    std::printf("theoretical:    %.1f GFLOP/s = %d cores x %.0f FLOP/cycle x %.3f GHz (clock: %s;"
                " FLOP/cycle: measured rate / (cores x clock), rounded to a power of 2)\n",
                f.theoretical_gflops, f.threads, f.flop_per_cycle, f.clock_ghz,
                f.clock_source.c_str());
  } else {
    std::printf("theoretical:    unknown (%s)\n", f.clock_source.c_str());
  }
  std::printf("GEMM measured:  own %.1f GFLOP/s, BLAS %.1f GFLOP/s (square 2048, best rep); "
              "best %.0f%% of the FMA ceiling\n",
              p.own_gemm_gflops, p.blas_gemm_gflops, 100.0 * p.best_gemm_gflops() / f.gflops);
  std::printf("memory read:    %.1f GB/s (%d threads streaming %.0f MiB, best of %d passes)\n",
              p.memory.read_gbps, p.memory.threads, static_cast<double>(p.memory.bytes) / (1 << 20),
              p.memory.passes);
}

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info", "Print version, SIMD target, BLAS, matmul engine, CPU features and measured peaks");
  auto args = std::make_shared<InfoArgs>();
  cmd->add_flag("--json", args->json, "One JSON object (the form benchmarks record)");
  cmd->add_flag("!--no-measure", args->measure,
                "Skip measuring the FMA ceiling and GEMM rates (about 2 s)");
  cmd->add_option("--seconds", args->seconds, "Seconds per measurement")->capture_default_str();
  cmd->callback([args] {
    if (args->json) {
      nlohmann::json j = kernels::platform_json();
      if (args->measure) j["peaks"] = kernels::machine_peaks_json(kernels::measure_machine_peaks(args->seconds));
      std::printf("%s\n", j.dump(2).c_str());
      return;
    }
    std::fputs(kernels::platform_text().c_str(), stdout);
    std::fflush(stdout);
    if (args->measure) print_peaks_text(kernels::measure_machine_peaks(args->seconds));
  });
}

const CommandRegistrar kRegistrar("info", add_info_command);

}  // namespace
}  // namespace longctx::cli
