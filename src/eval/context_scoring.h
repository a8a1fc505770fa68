// Context parallelism for evaluation (`eval ppl --context-parallel K` under `mpirun -np K`):
// every scored sequence is split over the K ranks along time as in training (zig-zag,
// train/ring_attention.h), each rank runs the forward of its 2C rows with ring attention
// (train/context_parallel.h, the same code as the trainer's), and the per-token losses are
// gathered so that every rank holds the whole sequence's losses and the evaluation continues
// identically on all ranks (rank 0 alone writes the outputs).
//
// Any length works: a sequence of T tokens is padded at its end to Tp, the next multiple of
// 2K. Under the causal mask no real token sees the padding, and the padding's losses are
// dropped, so the real tokens' losses are those of the unpadded sequence; RoPE tables and
// length-dependent encodings (dynamic NTK) are resolved at T, as in one process.
//
// Each rank holds the training forward's workspace for Tp/K tokens (model::forward_loss),
// not the layer-by-layer one of model/forward_long.h; the results agree up to float rounding.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/llama.h"
#include "model/workspace.h"
#include "train/context_parallel.h"
#include "train/distributed.h"

namespace longctx::eval {

class ContextScoring {
 public:
  // world: all ranks, of which there must be exactly K (one context group). Error naming
  // --context-parallel otherwise (also when K > 1 and the process was not started by mpirun).
  // Collective over world.
  ContextScoring(train::Comm& world, int context_parallel);
  int ranks() const { return cp_.layout().context; }
  // Rank 0: the one that prints and writes outputs.
  bool writer() const { return world_.is_root(); }

  // losses (T) = -log p(targets[t] | inputs[0..t]) (0 where targets[t] is -1), the same array
  // on every rank; every rank passes the same inputs and targets (T each). Collective.
  void losses(float* out, const model::LlamaModel& model, std::span<const int32_t> inputs,
              std::span<const int32_t> targets);

  // Bytes one rank's buffers take for a sequence of T tokens (workspace, ring buffers,
  // gathered losses), for estimates made before a run.
  static size_t bytes_needed(const model::ModelConfig& config, int64_t T, int context_parallel);

 private:
  train::Comm& world_;
  train::ContextParallel cp_;
  model::TrainWorkspace ws_;
  train::LocalBatch local_;
  std::vector<int32_t> tokens_, targets_, positions_;  // (Tp) the padded whole sequence
  std::vector<float> local_losses_;                    // (Tp/K) this rank's rows
  std::vector<float> whole_;                           // (Tp) every rank's rows, in order
};

}  // namespace longctx::eval
