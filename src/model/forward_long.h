// Forward-only pass over one long sequence for evaluation, layer by layer: the whole
// sequence goes through layer 0 in chunks of tokens (keys and values of that layer only are
// kept, for the later chunks' attention), then through layer 1, and so on. Memory is one
// residual stream (T, C), one layer's keys and values (T, 2 * Hkv * D) and one chunk's
// activations, independent of the number of layers; the training path (forward_loss) keeps
// a whole (T, ...) set of layer activations instead, about 6x more at the small preset.
//
// The result equals forward_loss's hidden states up to float rounding (different matrix
// shapes): every position attends to all earlier ones with the RoPE table for the whole
// length T, as in training (dynamic kinds are resolved at T).
#pragma once
#include <cstdint>

#include "core/buffer.h"
#include "kernels/rope_apply.h"
#include "model/llama.h"

namespace longctx::model {

// Tokens per chunk. Each chunk runs ~20 parallel regions per layer; with 512-token chunks
// their fork/join made the pass 2.8x slower than the training forward at T = 4096 on 2
// busy cores (bench/eval_forward, measured), with 4096 it matches it. One chunk's
// activations cost ~45 KB per token at the small preset (185 MB).
constexpr int64_t kLongForwardChunk = 4096;

class LongForwardWorkspace {
 public:
  LongForwardWorkspace() = default;
  LongForwardWorkspace(const LongForwardWorkspace&) = delete;
  LongForwardWorkspace& operator=(const LongForwardWorkspace&) = delete;

  // Bytes this workspace needs for (config, T, chunk), RoPE table included; the same
  // computation that allocates it, so estimates made before a run are exact.
  static size_t bytes_needed(const ModelConfig& config, int64_t T, int64_t chunk);
  size_t bytes() const { return arena_.capacity() + rope_bytes_; }

 private:
  friend const float* forward_hidden_long(const LlamaModel&, const int32_t*, int64_t,
                                          LongForwardWorkspace&, int64_t);
  void prepare(const ModelConfig& config, int64_t T, int64_t chunk);

  Arena arena_;
  ModelConfig config_{};
  int64_t T_ = 0, chunk_ = 0;
  float* residual_ = nullptr;  // (T, C) the residual stream, then the final-norm output
  float* k_ = nullptr;         // (T, Hkv*D) current layer's post-RoPE keys
  float* v_ = nullptr;         // (T, Hkv*D)
  float* qkv_ = nullptr;       // (chunk, H*D + 2*Hkv*D)
  float* x_out_ = nullptr;     // (chunk, C) a layer's output for one chunk
  float* rstd_ = nullptr;      // (chunk) final-norm scratch
  LayerActivations acts_{};    // one chunk's layer internals (k, v, lse unused)

  kernels::RopeCache rope_;
  rope::RopeSpec rope_spec_{};
  int64_t rope_T_ = 0;
  size_t rope_bytes_ = 0;
};

// tokens (T) -> final-norm hidden states (T, C), a pointer into ws valid until the next call.
// Throws Error for tokens outside [0, V), T < 1 or chunk < 1.
const float* forward_hidden_long(const LlamaModel& model, const int32_t* tokens, int64_t T,
                                 LongForwardWorkspace& ws, int64_t chunk = kLongForwardChunk);

}  // namespace longctx::model
