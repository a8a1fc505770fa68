// Model FLOPs and the measured matrix-multiply peak: the two halves of model FLOPs
// utilisation (MFU), shared by the trainer's metrics and bench/train_step.
#pragma once
#include <cstdint>

#include "model/config.h"

namespace longctx::train {

// Training FLOPs per token at sequence length T: 6 x (matmul weights incl. the output head,
// excl. the embedding lookup) + 6 x n_layers x dim x T (attention scores and values,
// causal: half of the 12 x L x C x T of a full square).
double model_flops_per_token(const model::ModelConfig& config, int64_t T);

// MFU denominators, measured on the current thread count: the best GFLOP/s of a square
// (n x n x n, x @ W^T form) fp32 product over both matrix-product engines (the project's
// own GEMM and the BLAS library; kernels/gemm_rate.h, the measurement `longctx info` and
// the benchmarks use), and the CPU's measured FMA ceiling (kernels/fma_peak.h).
struct MatmulPeaks {
  double best_gemm_gflops = 0.0;
  double fma_gflops = 0.0;
};
MatmulPeaks measure_matmul_peaks(int64_t n, double min_seconds);

}  // namespace longctx::train
