#include "train/flops.h"

#include <algorithm>

#include "kernels/fma_peak.h"
#include "kernels/gemm_rate.h"

namespace longctx::train {

double model_flops_per_token(const model::ModelConfig& c, int64_t T) {
  const double C = double(c.dim), D = double(c.resolved_head_dim());
  const double qkv = double(c.n_heads + 2 * c.n_kv_heads) * D * C;
  const double per_layer = qkv + double(c.n_heads) * D * C + 3.0 * double(c.ffn_dim) * C;
  const double weights = double(c.n_layers) * per_layer + double(c.vocab_size) * C;
  return 6.0 * weights + 6.0 * double(c.n_layers) * C * double(T);
}

MatmulPeaks measure_matmul_peaks(int64_t n, double min_seconds) {
  const kernels::GemmShape square{"square", n, n, n, false, true};
  MatmulPeaks p;
  for (kernels::MatmulEngine e : {kernels::MatmulEngine::kOwn, kernels::MatmulEngine::kBlas}) {
    p.best_gemm_gflops = std::max(p.best_gemm_gflops,
                                  kernels::measure_gemm_rate(square, e, min_seconds).best_gflops);
  }
  p.fma_gflops = kernels::measure_fma_peak(min_seconds).gflops;
  return p;
}

}  // namespace longctx::train
