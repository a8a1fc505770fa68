// A model opened for inference, as generate, chat and serve use it: a GGUF file is mapped
// and its f32 / bf16 / Q8_0 matrices are used in place (nothing is read until a forward pass
// touches it, so opening is instant and costs no memory beyond the page cache); f16
// tensors, Hugging Face folders and --weights conversions are held in memory.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "io/tokenizer.h"
#include "model/inference_weights.h"

namespace longctx::serve {

struct ModelLoadOptions {
  std::string path;       // .gguf file or Hugging Face folder
  std::string tokenizer;  // SentencePiece .model replacing the model's own ("" = keep)
  std::string weights;    // "" = as stored; "f32", "bf16" or "q8_0" converts every matrix
  std::string rope;       // "" = the model's position encoding; else a --rope spec replacing it
};

class ServingModel {
 public:
  model::InferenceWeights weights;  // config inside (weights.config)
  std::optional<io::Tokenizer> tokenizer;
  std::string path;
  std::string name;                   // the file or folder name without extension (API model id)
  int64_t trained_context = 0;        // max_position_embeddings as stored
  bool mapped = false;                // matrices used in place from the mapped file
  double open_seconds = 0;

  const model::ModelConfig& config() const { return weights.config; }
  // 64-bit checksum of every weight byte as used (computed once, on first call: it reads
  // the whole model). Part of the fingerprint of saved KV states.
  uint64_t checksum() const;

 private:
  mutable std::once_flag checksum_once_;
  mutable uint64_t checksum_ = 0;
};

// Opens a model; Error names the file, tensor or option at fault. A tokenizer is required
// (generate, chat and serve speak text): Error when the model has none and none is given.
std::unique_ptr<ServingModel> open_serving_model(const ModelLoadOptions& options);

// Fast order-dependent checksum of bytes (8-byte words through SplitMix64's finaliser,
// 1 MiB chunks hashed in parallel and combined in order).
uint64_t bytes_checksum(const void* data, size_t n, uint64_t seed);

}  // namespace longctx::serve
