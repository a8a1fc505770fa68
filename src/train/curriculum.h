// The window schedule of a run: every optimizer step at --seq T, or a short-to-long
// curriculum (LLaMA 2 Long's training-curriculum ablation, `--short-seq T0 --short-share F`)
// where steps 1..round(F x steps) train at T0 and the rest at T, inside one run: one
// optimizer state, one learning-rate schedule, one data stream.
//
// Tokens per optimizer step are --batch-tokens in both phases, so a short step holds
// T / T0 times the micro-batches of a long one. Data streams (batch_feed.h) are document
// partitions that live through the whole run: their number is the gcd of both phases'
// micro-batches per step (= the long phase's when T0 divides T, so the long phase reads the
// same partition as a run without curriculum), and each stream serves rounds(step)
// micro-batches of every step.
#pragma once
#include <cstdint>

#include "model/config.h"
#include "train/run_config.h"

namespace longctx::train {

struct Curriculum {
  int64_t seq = 0;           // T, the final window
  int64_t micro_batch = 1;   // B, sequences per micro-batch
  int64_t batch_tokens = 0;  // tokens per optimizer step in every phase (0 = seq x micro_batch)
  int64_t short_seq = 0;     // T0 (0: no short phase)
  int64_t short_steps = 0;   // steps 1..short_steps train at T0

  bool active() const { return short_seq > 0; }
  int64_t step_tokens() const { return batch_tokens > 0 ? batch_tokens : seq * micro_batch; }
  // The window of optimizer step `step` (1-based).
  int64_t window(int64_t step) const {
    return active() && step <= short_steps ? short_seq : seq;
  }
  // Micro-batches of step `step` over all ranks.
  int64_t micro_batches(int64_t step) const {
    return step_tokens() / (window(step) * micro_batch);
  }
  // Data streams (document partitions) of the run.
  int64_t streams() const;
  // Micro-batches each stream serves in step `step`.
  int64_t rounds(int64_t step) const { return micro_batches(step) / streams(); }
};

// The run's schedule from a resolved configuration (resolve_config checked the flags).
Curriculum make_curriculum(const TrainConfig& config);

// Model FLOPs (forward + backward, model_flops_per_token of flops.h, over all ranks) of
// optimizer steps 1..steps_done: what `train_flops` in metrics.jsonl reports.
double curriculum_flops(const Curriculum& curriculum, const model::ModelConfig& config,
                        int64_t steps_done);

// Flag checks of --short-seq, --short-share, --short-rope against the resolved --seq,
// --batch-tokens, --micro-batch, --steps and --context-parallel; Error names the flags.
// Called by resolve_config.
void check_curriculum_flags(const TrainConfig& config);

}  // namespace longctx::train
