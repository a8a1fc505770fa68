// The run folder RUN:
//   config.toml          the resolved configuration (train/run_config.h)
//   metrics.jsonl        one line per step (train/metrics.h); loss.svg, the curve
//   checkpoint-NNNNNNNN/ the last --keep checkpoints (io/checkpoint.h): a Hugging Face model
//                        folder plus optimizer moments and trainer_state.json
//   final/               at the end: the trained model as a Hugging Face folder
//   final.gguf           with --gguf
// Re-running a command on an existing RUN resumes from its latest checkpoint; a RUN whose
// config.toml differs in a key that defines the run is refused, naming the keys.
#pragma once
#include <string>
#include <vector>

#include "train/run_config.h"

namespace longctx::train {

struct RunFolderPlan {
  bool resume = false;                // a checkpoint exists and is continued
  std::string checkpoint;             // its folder
  std::vector<std::string> warnings;  // differing keys that only cost bit-exactness
};

// Reads RUN's config.toml and checkpoints (if any) and decides; Error names the differing
// keys, or says that --resume found nothing. Writes nothing.
RunFolderPlan plan_run_folder(const TrainConfig& config);
// Creates RUN and (re)writes config.toml atomically.
void write_run_config(const TrainConfig& config);

// The model folder or file behind extend's --from: a Hugging Face folder, a GGUF file, or a
// run folder (its final/ model, else its latest checkpoint). Error names --from.
std::string resolve_model_source(const std::string& from);

}  // namespace longctx::train
