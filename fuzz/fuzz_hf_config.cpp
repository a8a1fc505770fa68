// libFuzzer target: Hugging Face config.json -> ModelConfig (LlamaConfig fields and
// the rope keys) and, when accepted, back to config.json and in again: the round
// trip must give the same configuration.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/hf_config.h"
#include "rope/rope_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  longctx::model::ModelConfig c;
  try {
    c = longctx::io::model_config_from_hf(j, "fuzz.json");
  } catch (const longctx::Error&) {
    return 0;
  }
  nlohmann::json out;
  try {
    out = longctx::io::model_config_to_hf(c, {});
  } catch (const longctx::Error&) {
    return 0;  // a kind Hugging Face cannot express
  }
  const longctx::model::ModelConfig back = longctx::io::model_config_from_hf(out, "round trip");
  if (back.dim != c.dim || back.n_layers != c.n_layers || back.n_kv_heads != c.n_kv_heads ||
      back.vocab_size != c.vocab_size || back.norm_eps != c.norm_eps ||
      back.resolved_head_dim() != c.resolved_head_dim() ||
      back.tied_embeddings != c.tied_embeddings)
    std::abort();
  return 0;
}
