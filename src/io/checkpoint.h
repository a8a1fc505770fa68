// Training checkpoints. A checkpoint is a Hugging Face model folder (config.json,
// model.safetensors, tokenizer.model) plus
//   optimizer.safetensors  AdamW moments, F32, "exp_avg.<name>" / "exp_avg_sq.<name>" in
//                          longctx's internal layout (q/k rows interleaved, unlike the model)
//   trainer_state.json     {"step": N, "state": <caller's JSON: schedule position, data
//                          cursor, RNG state...>}
//   manifest.json          size and FNV-1a 64 checksum of every other file, written last.
// It is written into <run>/.checkpoint-N.tmp, every file fsynced, then renamed to
// <run>/checkpoint-N (zero-padded) and the run folder fsynced: a crash at any moment
// leaves the old checkpoints and possibly a stray .tmp folder (ignored and removed
// later), never a half-written checkpoint-N.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "io/model_io.h"
#include "model/parameters.h"

namespace longctx::io {

struct CheckpointSave {
  const model::LlamaModel* model = nullptr;     // required
  const Tokenizer* tokenizer = nullptr;         // optional
  const model::ParameterSet* adam_m = nullptr;  // optional (both or neither)
  const model::ParameterSet* adam_v = nullptr;
  int64_t step = 0;
  nlohmann::json state = nlohmann::json::object();  // opaque trainer state
  int keep_last = 3;                                // older checkpoint-* folders are removed; 0 keeps all
};

// Returns the checkpoint folder written.
std::string save_checkpoint(const std::string& run_dir, const CheckpointSave& save);

struct LoadedCheckpoint {
  LoadedModel model;
  std::optional<model::ParameterSet> adam_m, adam_v;
  int64_t step = 0;
  nlohmann::json state;
  std::string path;
};

// path: a checkpoint folder, or a run folder (its latest checkpoint). Verifies the
// manifest (sizes, checksums) and the optimizer tensors' names, shapes and dtypes.
LoadedCheckpoint load_checkpoint(const std::string& path);
// Checkpoint folders of a run, oldest first (by step).
std::vector<std::string> list_checkpoints(const std::string& run_dir);

uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull);

}  // namespace longctx::io
