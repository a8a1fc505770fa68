// Hugging Face LLaMA config.json <-> ModelConfig. Position-encoding keys go
// through rope/rope_hf.h; everything else (LlamaConfig fields) is read here.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/tensor.h"
#include "model/config.h"

namespace longctx::io {

// Refuses anything but LlamaForCausalLM / model_type "llama", biases, an
// activation other than silu, and fields of the wrong JSON type; Error names
// origin and the field.
model::ModelConfig model_config_from_hf(const nlohmann::json& config, const std::string& origin);
model::ModelConfig read_hf_config(const std::string& path);  // a config.json file

struct HfConfigExtras {
  int32_t bos_token_id = 1, eos_token_id = 2;  // -1: omitted
  DType torch_dtype = DType::kF32;
};
// A config.json that transformers' LlamaConfig loads unchanged.
nlohmann::json model_config_to_hf(const model::ModelConfig& config, const HfConfigExtras& extras);

}  // namespace longctx::io
