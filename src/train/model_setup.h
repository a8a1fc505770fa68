// The model and tokenizer a run starts from: `train` builds a preset or config.json model
// initialised from the seed; `extend` loads --from and switches its position encoding; a
// resumed run loads its latest checkpoint. In every case the model's trained length becomes
// max(--seq, --pose-target) and --rope (when given) its position encoding; a resumed `train`
// without --rope gets its model config's encoding back (a checkpoint of a curriculum's short
// phase carries --short-rope).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/tokenizer.h"
#include "model/llama.h"
#include "rope/rope_spec.h"
#include "train/data_sources.h"
#include "train/run_config.h"

namespace longctx::train {

struct RunModel {
  model::LlamaModel model;  // carries final_rope
  std::optional<io::Tokenizer> tokenizer;
  std::string origin;  // what it was made from (for the log)
  // The run's position encoding (saved with the final model), and the one of a curriculum's
  // short phase (--short-rope; the run's when not given). The trainer sets model.config.rope
  // to the encoding of the phase it trains.
  rope::RopeSpec final_rope, short_rope;
};

// A fresh model for the configuration (train: initialised; extend: loaded from --from).
RunModel make_initial_model(const TrainConfig& config, const std::vector<DataSource>& sources);
// The model of a checkpoint, with the configuration's position encoding and length applied.
RunModel model_from_checkpoint(io::LoadedCheckpoint& checkpoint, const TrainConfig& config);

}  // namespace longctx::train
