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

// Best GFLOP/s of a square (n x n x n) fp32 product through kernels::matmul_forward over at
// least min_seconds (after one untimed call), on the current thread count.
double measure_matmul_gflops(int64_t n, double min_seconds);

}  // namespace longctx::train
