// LLaMA model configuration: sizes, norm epsilon, head tying and the position
// encoding. Validated once (validate()) so every later layer can trust it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rope/rope_spec.h"

namespace longctx::model {

struct ModelConfig {
  int64_t dim = 0;          // C, residual stream width
  int64_t n_layers = 0;     // L
  int64_t n_heads = 0;      // H, query heads
  int64_t n_kv_heads = 0;   // Hkv, key/value heads (divides H; < H is grouped-query attention)
  int64_t ffn_dim = 0;      // F, SwiGLU hidden width
  int64_t vocab_size = 0;   // V
  int64_t max_seq_len = 0;  // longest sequence the model is meant to see (trained context)
  int64_t head_dim = 0;     // D; 0 -> dim / n_heads
  float norm_eps = 1e-5f;   // RMSNorm epsilon
  bool tied_embeddings = false;  // output head shares model.embed_tokens.weight
  rope::RopeSpec rope;      // position encoding

  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : (n_heads > 0 ? dim / n_heads : 0); }
  // Throws longctx::Error naming the offending field ("ModelConfig.n_kv_heads: ...").
  void validate() const;
  // Total number of float parameters (same as ParameterSet(config).size()).
  int64_t num_parameters() const;
};

// Named presets: "tiny" (dim 256, 4 layers, 8 heads, 4 kv heads, ffn 688, vocab 4096),
// "small" (dim 768, 12 layers, 12 heads, 4 kv heads, ffn 2048, vocab 32000) — both
// max_seq_len 32768 — and "test" (dim 32, 2 layers, 4 heads, 2 kv heads, ffn 48, vocab 64,
// max_seq_len 256) for unit tests. Throws Error naming the preset when unknown.
ModelConfig preset_config(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace longctx::model
