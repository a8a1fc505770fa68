// Measured matrix-product throughput of this machine for one shape and engine (the
// project's own GEMM or the BLAS library), and the machine's peaks as benchmarks and
// `longctx info` report them: the FMA ceiling of the CPU (fma_peak.h) next to the best
// GEMM rate, so MFU can be stated against both.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/fma_peak.h"
#include "kernels/gemm.h"
#include "kernels/memory_bandwidth.h"

namespace longctx::kernels {

struct GemmShape {
  std::string name;
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

// A matrix-product implementation to measure: the own GEMM, the configured BLAS library,
// or another library a benchmark loads (bench/blis_gemm.h).
struct GemmCandidate {
  std::string name;
  void (*run)(const GemmArgs&) = nullptr;
};
GemmCandidate gemm_candidate(MatmulEngine engine);

struct GemmRate {
  GemmShape shape;
  MatmulEngine engine = MatmulEngine::kOwn;  // set by measure_gemm_rate (own or BLAS)
  std::string engine_name;  // the candidate's name
  // Largest |C - C of the first candidate| after the warm-up call, relative to max |C|
  // (0 for the first): a wrongly bound library shows here, not as a fast number.
  double max_rel_diff = 0.0;
  int reps = 0;
  double best_gflops = 0.0, median_gflops = 0.0;
  // GFLOP per second of CPU time summed over the process's threads, best rep: per core,
  // and much less affected than wall time when other jobs share the cores.
  double best_gflops_per_cpu_s = 0.0;
};

// Random operands, one untimed call, then repeated calls for at least min_seconds (and 3).
GemmRate measure_gemm_rate(const GemmShape& shape, MatmulEngine engine, double min_seconds);

// Several candidates on the same operands, called in turn (one call of each, again and
// again) until every one has run for min_seconds in total (and at least 3 times), so a
// change in the machine's speed (other jobs, clock) hits all of them alike and their
// ratios hold even when single figures move.
std::vector<GemmRate> measure_gemm_rates(const GemmShape& shape,
                                         const std::vector<GemmCandidate>& candidates,
                                         double min_seconds);

struct MachinePeaks {
  FmaPeak fma;
  double own_gemm_gflops = 0.0;   // best of square 2048 (NT form, like x @ W^T)
  double blas_gemm_gflops = 0.0;  // same shape through the BLAS library
  MemoryBandwidth memory;         // read rate of a buffer far beyond the caches (decode's ceiling)
  double best_gemm_gflops() const { return std::max(own_gemm_gflops, blas_gemm_gflops); }
};

// About 4 x seconds of measuring on the current thread count.
MachinePeaks measure_machine_peaks(double seconds = 0.3);
nlohmann::json machine_peaks_json(const MachinePeaks& peaks);

}  // namespace longctx::kernels
