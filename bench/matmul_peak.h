// Shapes for the matrix-product benchmarks: large squares (the machine's attainable
// GEMM peak) and every Linear-layer product of a training step; measured with
// kernels/gemm_rate.h through either engine (own GEMM or the BLAS library).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/cross_entropy_chunk.h"
#include "kernels/gemm_rate.h"

namespace longctx::bench {

using kernels::GemmShape;

// Large square products: the machine's attainable sgemm peak.
inline std::vector<GemmShape> square_shapes(bool quick) {
  std::vector<GemmShape> v;
  for (int64_t n : quick ? std::vector<int64_t>{2048} : std::vector<int64_t>{1024, 2048, 4096})
    v.push_back({"square " + std::to_string(n), n, n, n, false, true});
  return v;
}

// The Linear-layer products of one training step of a preset at sequence length T
// (forward, dX, dW for each weight; head in the fused loss's automatic chunks).
inline std::vector<GemmShape> model_shapes(const std::string& config, int64_t T) {
  int64_t C, H, Hkv, F, V;
  if (config == "small") {
    C = 768, H = 12, Hkv = 4, F = 2048, V = 32000;
  } else {
    C = 256, H = 8, Hkv = 4, F = 688, V = 4096;
  }
  const int64_t D = C / H;
  struct W {
    const char* name;
    int64_t out, in, rows;
  };
  const W ws[] = {{"qkv", (H + 2 * Hkv) * D, C, T},
                  {"o", C, H * D, T},
                  {"gate_up", 2 * F, C, T},
                  {"down", C, F, T},
                  {"head", V, C, kernels::lm_head_chunk_rows(T, V, 0)}};
  std::vector<GemmShape> v;
  for (const W& w : ws) {
    const std::string p = config + " " + w.name + " ";
    v.push_back({p + "fwd", w.rows, w.out, w.in, false, true});   // y = x W^T
    v.push_back({p + "dx", w.rows, w.in, w.out, false, false});   // dx = dy W
    v.push_back({p + "dw", w.out, w.in, w.rows, true, false});    // dW = dy^T x
  }
  return v;
}

// Best attainable GFLOP/s over the square shapes for one engine (default: the engine
// matmul_forward/backward use now, i.e. what the training step runs).
inline double measure_peak_gflops(bool quick, double min_seconds,
                                  std::vector<kernels::GemmRate>* all = nullptr,
                                  kernels::MatmulEngine engine = kernels::matmul_engine()) {
  double peak = 0;
  for (const GemmShape& s : square_shapes(quick)) {
    kernels::GemmRate r = kernels::measure_gemm_rate(s, engine, min_seconds);
    peak = std::max(peak, r.best_gflops);
    if (all) all->push_back(r);
  }
  return peak;
}

}  // namespace longctx::bench
