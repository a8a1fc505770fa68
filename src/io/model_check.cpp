#include "io/model_check.h"

#include "core/error.h"
#include "rope/rope_spec.h"

namespace longctx::io {

std::string shape_text(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

ExpectedTensors expected_tensors(const model::ModelConfig& c) {
  const int64_t C = c.dim, D = c.resolved_head_dim(), H = c.n_heads, K = c.n_kv_heads,
                F = c.ffn_dim, V = c.vocab_size;
  ExpectedTensors t = {{"model.embed_tokens.weight", {V, C}}};
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back({p + "input_layernorm.weight", {C}});
    t.push_back({p + "self_attn.q_proj.weight", {H * D, C}});
    t.push_back({p + "self_attn.k_proj.weight", {K * D, C}});
    t.push_back({p + "self_attn.v_proj.weight", {K * D, C}});
    t.push_back({p + "self_attn.o_proj.weight", {C, H * D}});
    t.push_back({p + "post_attention_layernorm.weight", {C}});
    t.push_back({p + "mlp.gate_proj.weight", {F, C}});
    t.push_back({p + "mlp.up_proj.weight", {F, C}});
    t.push_back({p + "mlp.down_proj.weight", {C, F}});
  }
  t.push_back({"model.norm.weight", {C}});
  if (!c.tied_embeddings) t.push_back({"lm_head.weight", {V, C}});
  return t;
}

void check_model(const model::LlamaModel& m, const Tokenizer* tok, const std::string& what) {
  try {
    m.config.validate();
    rope::validate_rope_spec(m.config.rope);
    const ExpectedTensors expected = expected_tensors(m.config);
    const std::vector<model::ParamEntry>& have = m.params.entries();
    size_t floats = 0;
    for (size_t i = 0; i < expected.size() || i < have.size(); ++i) {
      LONGCTX_CHECK(i < have.size(), "the config implies tensor '%s' %s, which the model lacks",
                    expected[i].first.c_str(), shape_text(expected[i].second).c_str());
      const std::vector<int64_t> shape(have[i].shape.dims.begin(),
                                       have[i].shape.dims.begin() + have[i].shape.ndim);
      LONGCTX_CHECK(i < expected.size(), "tensor '%s' %s is not part of the config's model",
                    have[i].name.c_str(), shape_text(shape).c_str());
      LONGCTX_CHECK(have[i].name == expected[i].first && shape == expected[i].second,
                    "tensor '%s' has shape %s where the config implies '%s' %s",
                    have[i].name.c_str(), shape_text(shape).c_str(), expected[i].first.c_str(),
                    shape_text(expected[i].second).c_str());
      floats += static_cast<size_t>(have[i].shape.numel());
    }
    LONGCTX_CHECK(floats == m.params.size(), "the tensors hold %zu floats, the buffer %zu", floats,
                  m.params.size());
    LONGCTX_CHECK(!tok || tok->vocab_size() <= m.config.vocab_size,
                  "tokenizer '%s' has %d pieces but the embedding only %lld rows",
                  tok->origin().c_str(), tok->vocab_size(),
                  static_cast<long long>(m.config.vocab_size));
  } catch (const Error& e) {
    throw e.with_context(what);
  }
}

}  // namespace longctx::io
