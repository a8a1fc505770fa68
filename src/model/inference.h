// KV-cache inference for batch 1: forward_tokens appends tokens at the cache's
// current position (prefill many at once, decode one at a time) and returns the
// logits of the last one. Weights are immutable; all state lives in the
// caller-owned KVCache.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/rope_apply.h"
#include "model/llama.h"

namespace longctx::model {

class KVCache {
 public:
  KVCache() = default;
  // capacity: most tokens the cache can hold (<= anything; typically config.max_seq_len).
  // Memory: n_layers * 2 * capacity * n_kv_heads * head_dim floats.
  KVCache(const ModelConfig& config, int64_t capacity);

  int64_t position() const { return position_; }  // tokens already in the cache
  int64_t capacity() const { return capacity_; }
  void reset() { position_ = 0; }
  // Keeps the first n tokens (n <= position()), e.g. to rewind after a rejected draft.
  void truncate(int64_t n);

  float* k(int64_t layer);  // (capacity, Hkv, D) post-RoPE keys
  float* v(int64_t layer);  // (capacity, Hkv, D)

 private:
  friend void forward_tokens(const LlamaModel&, KVCache&, const int32_t*, int64_t, float*);
  const kernels::RopeCache& rope_for(const rope::RopeSpec& spec, int64_t needed);
  void ensure_scratch(int64_t n);

  ModelConfig config_{};
  int64_t capacity_ = 0, position_ = 0;
  std::vector<float> kv_;  // (n_layers, 2, capacity, Hkv, D)

  // RoPE table: rebuilt when the frequencies change (dynamic kinds depend on the
  // length) or more positions are needed. xPos tables always span the capacity,
  // because q and k must be scaled about the same centre.
  kernels::RopeCache rope_;
  kernels::RopeFreqs rope_freqs_;
  bool rope_valid_ = false;

  // Per-chunk activations, sized for the largest chunk seen (no allocation in decode).
  int64_t scratch_tokens_ = 0;
  std::vector<float> scratch_;
  LayerActivations acts_{};
  float *x0_ = nullptr, *x1_ = nullptr, *qkv_ = nullptr, *xf_ = nullptr, *rstd_ = nullptr;
};

// Appends tokens (n) at cache.position(): runs them through the model, writing
// their keys/values into the cache, and advances the position by n.
// logits (V) = the last token's next-token logits; may be null (prefill only).
// Long inputs are processed in chunks of kPrefillChunk tokens (bounded scratch).
// Throws Error when tokens are outside [0, V) or the cache would overflow.
void forward_tokens(const LlamaModel& model, KVCache& cache, const int32_t* tokens, int64_t n,
                    float* logits);

constexpr int64_t kPrefillChunk = 512;

}  // namespace longctx::model
