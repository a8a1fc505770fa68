// ParameterSet: every tensor of a LLaMA model in ONE flat 64-byte-aligned float
// buffer, with named entries in one fixed order (Hugging Face LLaMA names).
// Weights, gradients and both AdamW moments are ParameterSets of the same
// config, so they share one layout and one visitor (for_each) drives init,
// zeroing, the optimizer, checksums, load and save.
//
// Order (C = dim, D = head_dim, H = n_heads, Hkv = n_kv_heads, F = ffn_dim, V = vocab):
//   model.embed_tokens.weight                        (V, C)
//   per layer i:
//     model.layers.{i}.input_layernorm.weight        (C)
//     model.layers.{i}.self_attn.q_proj.weight       (H*D, C)    } adjacent: one fused
//     model.layers.{i}.self_attn.k_proj.weight       (Hkv*D, C)  } (H*D + 2*Hkv*D, C)
//     model.layers.{i}.self_attn.v_proj.weight       (Hkv*D, C)  } qkv matrix
//     model.layers.{i}.self_attn.o_proj.weight       (C, H*D)
//     model.layers.{i}.post_attention_layernorm.weight (C)
//     model.layers.{i}.mlp.gate_proj.weight          (F, C)      } adjacent: fused (2F, C)
//     model.layers.{i}.mlp.up_proj.weight            (F, C)      }
//     model.layers.{i}.mlp.down_proj.weight          (C, F)
//   model.norm.weight                                (C)
//   lm_head.weight                                   (V, C)      absent when tied_embeddings
// Tensors are packed back to back with no padding (the buffer start is 64-byte aligned).
// q_proj/k_proj rows are in longctx's INTERLEAVED RoPE pair layout (Meta layout);
// io/ converts from/to Hugging Face's half-split layout.
#pragma once
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "model/config.h"

namespace longctx::model {

struct ParamEntry {
  std::string name;
  Shape shape;
  size_t offset = 0;          // in floats from data()
  bool weight_decay = false;  // true for matrices, false for norm weights
};

// Pointers into one layer's tensors (fused views).
struct LayerWeights {
  float* attn_norm;  // (C)
  float* wqkv;       // (H*D + 2*Hkv*D, C): q rows, then k rows, then v rows
  float* wo;         // (C, H*D)
  float* ffn_norm;   // (C)
  float* w_gate_up;  // (2F, C): gate rows, then up rows
  float* w_down;     // (C, F)
};

class ParameterSet {
 public:
  ParameterSet() = default;
  explicit ParameterSet(const ModelConfig& config);  // validates config; zero-filled
  ParameterSet(const ParameterSet& other);            // deep copy
  ParameterSet& operator=(const ParameterSet& other);
  ParameterSet(ParameterSet&&) noexcept = default;
  ParameterSet& operator=(ParameterSet&&) noexcept = default;

  const std::vector<ParamEntry>& entries() const { return entries_; }
  float* data() { return buffer_.data(); }
  const float* data() const { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }
  const ModelConfig& config() const { return config_; }

  // Throws Error naming the tensor when absent.
  TensorView view(const std::string& name);
  const ParamEntry* find(const std::string& name) const;  // null when absent
  float* ptr(const std::string& name);                     // throws like view()
  const float* ptr(const std::string& name) const;

  // Fast typed access for the model code.
  float* embedding() { return data() + embed_offset_; }
  const float* embedding() const { return data() + embed_offset_; }
  float* final_norm() { return data() + norm_offset_; }
  const float* final_norm() const { return data() + norm_offset_; }
  // (V, C): lm_head.weight, or the embedding when tied.
  float* lm_head() { return data() + head_offset_; }
  const float* lm_head() const { return data() + head_offset_; }
  LayerWeights layer(int64_t i);
  LayerWeights layer(int64_t i) const;  // same pointers; callers must not write through them

  void zero() { buffer_.zero(); }

  // f(const ParamEntry&, float* ptr) for every tensor in order.
  template <class F>
  void for_each(F&& f) {
    for (const ParamEntry& e : entries_) f(e, data() + e.offset);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const ParamEntry& e : entries_) f(e, data() + e.offset);
  }

 private:
  ModelConfig config_;
  std::vector<ParamEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> entries_ index
  std::vector<size_t> layer_offsets_;  // per layer: offset of input_layernorm
  size_t embed_offset_ = 0, norm_offset_ = 0, head_offset_ = 0;
  Buffer<float> buffer_;
};

}  // namespace longctx::model
