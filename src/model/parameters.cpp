#include "model/parameters.h"

#include <cstring>

#include "core/error.h"

namespace longctx::model {

ParameterSet::ParameterSet(const ModelConfig& config) : config_(config) {
  config.validate();
  const int64_t C = config.dim, D = config.resolved_head_dim(), H = config.n_heads,
                Hkv = config.n_kv_heads, F = config.ffn_dim, V = config.vocab_size;
  size_t offset = 0;
  auto add = [&](std::string name, Shape shape, bool decay) {
    index_.emplace(name, entries_.size());
    entries_.push_back(ParamEntry{std::move(name), shape, offset, decay});
    offset += static_cast<size_t>(shape.numel());
  };
  embed_offset_ = offset;
  add("model.embed_tokens.weight", {V, C}, true);
  for (int64_t i = 0; i < config.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    layer_offsets_.push_back(offset);
    add(p + "input_layernorm.weight", {C}, false);
    add(p + "self_attn.q_proj.weight", {H * D, C}, true);
    add(p + "self_attn.k_proj.weight", {Hkv * D, C}, true);
    add(p + "self_attn.v_proj.weight", {Hkv * D, C}, true);
    add(p + "self_attn.o_proj.weight", {C, H * D}, true);
    add(p + "post_attention_layernorm.weight", {C}, false);
    add(p + "mlp.gate_proj.weight", {F, C}, true);
    add(p + "mlp.up_proj.weight", {F, C}, true);
    add(p + "mlp.down_proj.weight", {C, F}, true);
  }
  norm_offset_ = offset;
  add("model.norm.weight", {C}, false);
  if (config.tied_embeddings) {
    head_offset_ = embed_offset_;
  } else {
    head_offset_ = offset;
    add("lm_head.weight", {V, C}, true);
  }
  buffer_ = Buffer<float>(offset);
}

ParameterSet::ParameterSet(const ParameterSet& other)
    : config_(other.config_),
      entries_(other.entries_),
      index_(other.index_),
      layer_offsets_(other.layer_offsets_),
      embed_offset_(other.embed_offset_),
      norm_offset_(other.norm_offset_),
      head_offset_(other.head_offset_),
      buffer_(other.size()) {
  if (other.size()) std::memcpy(buffer_.data(), other.data(), other.size() * sizeof(float));
}

ParameterSet& ParameterSet::operator=(const ParameterSet& other) {
  if (this != &other) {
    ParameterSet copy(other);
    *this = std::move(copy);
  }
  return *this;
}

const ParamEntry* ParameterSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

float* ParameterSet::ptr(const std::string& name) {
  const ParamEntry* e = find(name);
  LONGCTX_CHECK(e != nullptr, "parameter tensor '%s' does not exist in this model", name.c_str());
  return data() + e->offset;
}

const float* ParameterSet::ptr(const std::string& name) const {
  return const_cast<ParameterSet*>(this)->ptr(name);
}

TensorView ParameterSet::view(const std::string& name) {
  float* p = ptr(name);
  return TensorView(p, DType::kF32, find(name)->shape);
}

LayerWeights ParameterSet::layer(int64_t i) {
  LONGCTX_CHECK(i >= 0 && i < static_cast<int64_t>(layer_offsets_.size()),
                "layer index %lld out of range [0, %zu)", static_cast<long long>(i),
                layer_offsets_.size());
  const int64_t C = config_.dim, D = config_.resolved_head_dim(), F = config_.ffn_dim;
  const int64_t qkv_rows = (config_.n_heads + 2 * config_.n_kv_heads) * D;
  float* p = data() + layer_offsets_[static_cast<size_t>(i)];
  LayerWeights w;
  w.attn_norm = p;
  p += C;
  w.wqkv = p;
  p += qkv_rows * C;
  w.wo = p;
  p += C * config_.n_heads * D;
  w.ffn_norm = p;
  p += C;
  w.w_gate_up = p;
  p += 2 * F * C;
  w.w_down = p;
  return w;
}

LayerWeights ParameterSet::layer(int64_t i) const { return const_cast<ParameterSet*>(this)->layer(i); }

}  // namespace longctx::model
