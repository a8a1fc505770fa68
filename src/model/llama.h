// LLaMA training forward and backward on CPU for a batch of token sequences
// (B, T): embedding -> per layer [RMSNorm -> fused qkv matmul -> RoPE on q, k ->
// causal GQA attention -> o_proj -> residual -> RMSNorm -> fused gate_up matmul
// -> SwiGLU -> down_proj -> residual] -> final RMSNorm -> fused lm head +
// cross-entropy (chunked; no (T x V) logits). The backward runs in reverse with
// the kernels' accumulation rule (parameter gradients +=).
//
// Deterministic: same inputs and thread count give bit-identical loss and
// gradients (no atomics; every reduction has a fixed order).
#pragma once
#include <cstdint>

#include "kernels/cross_entropy.h"
#include "model/config.h"
#include "model/parameters.h"
#include "model/sequence_attention.h"
#include "model/workspace.h"

namespace longctx::model {

struct LlamaModel {
  ModelConfig config;
  ParameterSet params;

  LlamaModel() = default;
  explicit LlamaModel(const ModelConfig& c) : config(c), params(c) {}
  LlamaModel(ModelConfig c, ParameterSet p) : config(std::move(c)), params(std::move(p)) {}
};

// Deterministic initialisation from seed: matrices N(0, 0.02), o_proj and down_proj
// N(0, 0.02 / sqrt(2 * n_layers)) (GPT-2 style residual scaling), norm weights 1.
void init_weights(LlamaModel& model, uint64_t seed);

struct StepOptions {
  // Store only each layer's input residual stream (B, T, C) in the forward and
  // recompute the layer's internals in the backward: peak activation memory
  // ~ n_layers * B*T*C + one layer's activations. Results are bit-identical to
  // recompute = false.
  bool recompute = false;
  // Gradients are scaled by 1 / grad_normalizer; 0 = this call's valid targets, so
  // the gradient is that of the mean loss. A trainer summing micro-batches passes
  // the step's total valid targets.
  int64_t grad_normalizer = 0;
  // (B, T) or null: document ids for packed sequences; a token attends only to
  // earlier tokens with the same id.
  const int32_t* segment_ids = nullptr;
  // (B, T) or null: the RoPE position of every token, for PoSE (positional skip-wise
  // training: chunks of the window placed at skipped positions of a longer target) or
  // positions restarting at each document. Null = 0..T-1 in every sequence.
  const int32_t* position_ids = nullptr;
  // Every position id lies in [0, position_limit): the RoPE table covers that range and
  // length-dependent kinds (dynamic NTK) see this length. 0 = T.
  int64_t position_limit = 0;
  // Null: causal attention over this call's T tokens. Context parallelism passes ring
  // attention (the call's tokens are then one process's slice of longer sequences, with
  // their absolute position_ids and a position_limit covering the whole sequence).
  SequenceAttention* attention = nullptr;
};

// tokens, targets (B, T); targets == kernels::kIgnoreIndex (-1) contribute no loss.
// grads += d(loss_sum / normalizer)/dparams. Returns the loss sum and valid count
// (mean loss = loss_sum / n_valid). Throws Error on tokens/targets outside [0, V).
kernels::LossSum forward_backward(const LlamaModel& model, ParameterSet& grads,
                                  const int32_t* tokens, const int32_t* targets, int64_t B,
                                  int64_t T, const StepOptions& options, TrainWorkspace& ws);

// Forward only, for evaluation. per_token_losses (B*T) or null (0 where ignored).
// segment_ids (B, T) or null as in StepOptions.
kernels::LossSum forward_loss(const LlamaModel& model, const int32_t* tokens,
                              const int32_t* targets, int64_t B, int64_t T, TrainWorkspace& ws,
                              float* per_token_losses = nullptr,
                              const int32_t* segment_ids = nullptr);
// The same with StepOptions' segment_ids, position_ids, position_limit and attention
// (recompute and grad_normalizer do not apply).
kernels::LossSum forward_loss(const LlamaModel& model, const int32_t* tokens,
                              const int32_t* targets, int64_t B, int64_t T,
                              const StepOptions& options, TrainWorkspace& ws,
                              float* per_token_losses = nullptr);

// Forward only, full logits (B*T, V) for every position (tests and small evals;
// memory B*T*V floats).
void forward_logits(const LlamaModel& model, const int32_t* tokens, int64_t B, int64_t T,
                    TrainWorkspace& ws, float* logits);

}  // namespace longctx::model
