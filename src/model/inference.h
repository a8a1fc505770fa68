// The inference forward pass: new tokens of one or many sequences appended to their KV
// caches, logits out. Weights are immutable (InferenceWeights, possibly in place in a
// mapped GGUF file); each sequence's state is its KVCache; the scratch is the caller's
// InferenceWorkspace. So sessions live side by side, and a server batches them:
//
//   - every matrix product runs once over the rows of all sequences of a call (a decode
//     step of N sequences is one (N, C) x (C, M) product per weight, not N matrix-vector
//     products), attention runs per sequence against its own cache;
//   - prompts go through in chunks of the workspace's max_rows (never token by token), with
//     the linear-memory tiled attention (kernels/attention.h); steps of a few rows use the
//     decode attention over typed caches (kernels/attention_decode.h).
//
// Position encodings: see model/rope_policy.h.
#pragma once
#include <cstdint>
#include <span>

#include "model/inference_weights.h"
#include "model/inference_workspace.h"
#include "model/kv_cache.h"
#include "model/llama.h"

namespace longctx::model {

constexpr int64_t kPrefillChunk = 512;       // default rows per forward round (workspace size)
constexpr int64_t kDecodeAttentionRows = 4;  // steps of at most this many rows use attention_decode

struct SequenceStep {
  KVCache* cache = nullptr;
  std::span<const int32_t> tokens;  // appended at cache->position()
  // (V) next-token logits after the last token, or (tokens.size(), V) after every token with
  // all_logits; null = none (prefill only).
  float* logits = nullptr;
  bool all_logits = false;
  // Sequence length the position encoding's frequencies are computed for (length-dependent
  // kinds only, rope_policy.h). 0 = the cache's position after this step. A caller that feeds
  // one prompt in several calls passes the prompt's end, so every part uses the same ones.
  int64_t rope_length = 0;
};

// Runs every step's tokens through the model into its cache (positions advance by the
// tokens' count). Steps with more rows than the workspace holds are processed in rounds.
// Throws Error, before anything changes, for ids outside the vocabulary, a cache made for
// another model shape, a step that would overflow its cache, or two steps sharing a cache.
void forward_batch(const InferenceWeights& weights, std::span<SequenceStep> steps,
                   InferenceWorkspace& ws);

// One sequence: appends tokens (n) and writes the last token's logits (V) when non-null.
void forward_tokens(const InferenceWeights& weights, KVCache& cache, InferenceWorkspace& ws,
                    const int32_t* tokens, int64_t n, float* logits);

// Convenience for f32 models in memory (tests, tools): weights viewed in place and a
// workspace made for the call (use the overload above in loops).
void forward_tokens(const LlamaModel& model, KVCache& cache, const int32_t* tokens, int64_t n,
                    float* logits);

}  // namespace longctx::model
