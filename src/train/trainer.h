// The training loop behind `longctx train` and `longctx extend`: initialisation or resume,
// gradient accumulation over micro-batches (and MPI ranks), clipping, AdamW, the schedule,
// validation, atomic checkpoints, metrics, divergence and signal handling, final outputs.
//
// Exact resume: a checkpoint holds the model, both AdamW moments, the optimizer step (the
// schedule is a function of it), every data stream's sampler cursors and counters (all
// randomness is drawn from counters), so a run killed at any moment and re-run continues with
// bit-identical steps, given the same thread count and number of ranks.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "train/run_config.h"

namespace longctx::train {

// A non-finite loss or gradient norm: the run stops at that step without writing a checkpoint.
class DivergenceError : public Error {
 public:
  using Error::Error;
};

struct TrainResult {
  int64_t last_step = 0;     // last completed optimizer step
  bool interrupted = false;  // stopped by SIGINT/SIGTERM (a checkpoint was written)
  double last_loss = 0;
  double last_val_loss = -1;  // -1: no validation
  std::string final_dir;      // RUN/final when finished
};

// Runs (or resumes) the run the configuration describes; prints progress on rank 0.
TrainResult run_training(TrainConfig config);

}  // namespace longctx::train
