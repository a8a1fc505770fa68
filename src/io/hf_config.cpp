#include "io/hf_config.h"

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "rope/rope_hf.h"

namespace longctx::io {

using nlohmann::json;

namespace {

int64_t get_int(const json& j, const char* key, const std::string& o, bool required,
                int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw_error("config '%s': missing field '%s'", o.c_str(), key);
    return fallback;
  }
  const json& v = j[key];
  if (!v.is_number_integer())
    throw_error("config '%s': field '%s' must be an integer, got %s", o.c_str(), key,
                v.dump().c_str());
  return v.get<int64_t>();
}

// The shortest decimal that reads back as the same float (1e-05, not 9.99999974738e-06),
// so config.json shows what a person would write.
double shortest_decimal(float f) {
  for (int precision = 6; precision <= 9; ++precision) {
    const double d = std::strtod(strformat("%.*g", precision, static_cast<double>(f)).c_str(), nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return f;
}

}  // namespace

model::ModelConfig model_config_from_hf(const json& j, const std::string& o) {
  if (!j.is_object()) throw_error("config '%s': not a JSON object", o.c_str());
  const std::string model_type =
      j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>() : "";
  bool llama_arch = model_type == "llama";
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const json& a : j["architectures"])
      if (a.is_string() && a.get<std::string>() == "LlamaForCausalLM") llama_arch = true;
  }
  if (!llama_arch)
    throw_error("config '%s': model_type '%s' / architectures %s is not a LLaMA model "
                "(LlamaForCausalLM); only LLaMA-architecture models are supported", o.c_str(),
                model_type.c_str(), j.contains("architectures") ? j["architectures"].dump().c_str() : "[]");
  for (const char* bias : {"attention_bias", "mlp_bias"})
    if (j.contains(bias) && !(j[bias].is_boolean() && !j[bias].get<bool>()))
      throw_error("config '%s': %s = %s is not supported (LLaMA has no biases)", o.c_str(), bias,
                  j[bias].dump().c_str());
  if (j.contains("hidden_act") && j["hidden_act"] != "silu")
    throw_error("config '%s': hidden_act %s is not supported (silu only)", o.c_str(),
                j["hidden_act"].dump().c_str());
  model::ModelConfig c;
  c.dim = get_int(j, "hidden_size", o, true, 0);
  c.n_layers = get_int(j, "num_hidden_layers", o, true, 0);
  c.n_heads = get_int(j, "num_attention_heads", o, true, 0);
  c.n_kv_heads = get_int(j, "num_key_value_heads", o, false, c.n_heads);
  c.ffn_dim = get_int(j, "intermediate_size", o, true, 0);
  c.vocab_size = get_int(j, "vocab_size", o, true, 0);
  c.max_seq_len = get_int(j, "max_position_embeddings", o, false, 2048);
  c.head_dim = get_int(j, "head_dim", o, false, 0);
  if (c.head_dim > 0 && c.n_heads > 0 && c.head_dim * c.n_heads == c.dim) c.head_dim = 0;
  if (j.contains("rms_norm_eps")) {
    if (!j["rms_norm_eps"].is_number())
      throw_error("config '%s': field 'rms_norm_eps' must be a number", o.c_str());
    c.norm_eps = j["rms_norm_eps"].get<float>();
  } else {
    c.norm_eps = 1e-6f;  // LlamaConfig's default
  }
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean())
      throw_error("config '%s': field 'tie_word_embeddings' must be true or false", o.c_str());
    c.tied_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  try {
    c.rope = rope::rope_from_hf_config(j);
    c.validate();
  } catch (const Error& e) {
    throw e.with_context("config '" + o + "'");
  }
  return c;
}

model::ModelConfig read_hf_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_error("opening config '%s'", path.c_str());
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw_error("config '%s': invalid JSON: %s", path.c_str(), e.what());
  }
  return model_config_from_hf(j, path);
}

json model_config_to_hf(const model::ModelConfig& c, const HfConfigExtras& x) {
  const char* dtype = x.torch_dtype == DType::kF16    ? "float16"
                      : x.torch_dtype == DType::kBF16 ? "bfloat16"
                                                      : "float32";
  json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.ffn_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.resolved_head_dim()},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rms_norm_eps", shortest_decimal(c.norm_eps)},
      {"tie_word_embeddings", c.tied_embeddings},
      {"hidden_act", "silu"},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"mlp_bias", false},
      {"initializer_range", 0.02},
      {"pretraining_tp", 1},
      {"use_cache", true},
      {"torch_dtype", dtype},
  };
  if (x.bos_token_id >= 0) j["bos_token_id"] = x.bos_token_id;
  if (x.eos_token_id >= 0) j["eos_token_id"] = x.eos_token_id;
  rope::rope_to_hf_config(c.rope, j);
  return j;
}

}  // namespace longctx::io
