// Whole models in and out: a GGUF file or a Hugging Face folder (config.json,
// model.safetensors or sharded with an index, tokenizer.model) <-> LlamaModel
// plus its tokenizer. Names, shapes and the q/k row layout are handled here:
// ParameterSet keeps q_proj/k_proj rows in the interleaved (Meta) RoPE layout,
// which is also GGUF's; Hugging Face stores them half-split, so HF load/save
// permutes them (k with the kv head count).
#pragma once
#include <optional>
#include <string>

#include "core/tensor.h"
#include "io/gguf.h"
#include "io/tokenizer.h"
#include "model/llama.h"

namespace longctx::io {

struct LoadedModel {
  model::LlamaModel model;
  std::optional<Tokenizer> tokenizer;  // absent when the source carries none
  std::string origin;
};

enum class ModelFormat { kGguf, kHfFolder };
// A folder is a Hugging Face model; a file starting with "GGUF" is GGUF; else Error.
ModelFormat detect_model_format(const std::string& path);

LoadedModel load_model(const std::string& path);
// The LLaMA configuration a GGUF file's metadata describes (architecture, sizes, rope
// keys and rope tensors); Error names the file and key.
model::ModelConfig model_config_from_gguf(const GgufFile& gguf);
LoadedModel load_gguf_model(const std::string& path);
LoadedModel load_hf_model(const std::string& folder);

// dtype: f32, f16 or bf16 for matrices (GGUF keeps 1-D norm weights in f32, as llama.cpp does).
void save_gguf_model(const model::LlamaModel& model, const Tokenizer* tokenizer,
                     const std::string& path, DType dtype = DType::kF32);
// Writes config.json, model.safetensors, and (with a tokenizer) tokenizer.model +
// tokenizer_config.json into folder (created if needed); each file atomically.
void save_hf_model(const model::LlamaModel& model, const Tokenizer* tokenizer,
                   const std::string& folder, DType dtype = DType::kF32);

// Hugging Face tensor name <-> GGUF tensor name ("model.layers.3.mlp.up_proj.weight" <->
// "blk.3.ffn_up.weight"); Error for names outside the LLaMA set.
std::string gguf_name_from_hf(const std::string& hf_name);
std::string hf_name_from_gguf(const std::string& gguf_name);

// Row permutation of a q or k projection (n_heads * head_dim rows of cols floats):
// only the first rot_dim rows of each head rotate. Interleaved row 2i+p <-> half-split
// row p*rot_dim/2 + i. out must not alias in.
void interleaved_to_half_split(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                               int64_t rot_dim, int64_t cols);
void half_split_to_interleaved(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                               int64_t rot_dim, int64_t cols);

}  // namespace longctx::io
