// AdamW over a ParameterSet: decay groups, global-norm clipping, the step counter. The one
// optimizer of the project (the trainer, bench/train_step and the tests call it). Moments are
// ParameterSets of the model's layout, so an update is one pass over the flat buffer
// (kernels::adamw_update per tensor, with that tensor's decay).
#pragma once
#include <cstdint>

#include "model/parameters.h"

namespace longctx::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;     // decoupled; never applied to norm weights
  bool decay_embeddings = true;  // false: model.embed_tokens (and a tied head) is not decayed
  double clip_norm = 1.0;        // global gradient L2 norm limit; 0 = no clipping

  // Throws Error naming the flag (--beta1, --beta2, --adam-eps, --weight-decay, --clip).
  void validate() const;
};

struct OptimizerStepStats {
  double grad_norm = 0;     // global L2 norm before clipping
  double clip_scale = 1.0;  // factor applied to the gradients (1 = not clipped)
};

class AdamW {
 public:
  AdamW(const model::ModelConfig& config, const AdamWOptions& options);

  // Global L2 norm of all gradients, summed in double in a fixed order (deterministic).
  static double global_norm(const model::ParameterSet& grads);
  // Whether a tensor is decayed: matrices yes, norm weights never, the embedding by option.
  bool decays(const model::ParamEntry& entry) const;

  // One step at learning rate lr: grads are scaled in place when their norm (grad_norm, as
  // global_norm returned; the caller checks it is finite; unused when clip_norm is 0) exceeds
  // clip_norm, then params are updated and the moments advanced. Increments steps_taken().
  OptimizerStepStats step(model::ParameterSet& params, model::ParameterSet& grads, double lr,
                          double grad_norm);

  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t steps) { steps_ = steps; }  // after restoring the moments
  model::ParameterSet& exp_avg() { return m_; }            // first moments
  model::ParameterSet& exp_avg_sq() { return v_; }         // second moments
  const model::ParameterSet& exp_avg() const { return m_; }
  const model::ParameterSet& exp_avg_sq() const { return v_; }
  const AdamWOptions& options() const { return options_; }

 private:
  AdamWOptions options_;
  model::ParameterSet m_, v_;  // same layout as the parameters, zero at start
  int64_t steps_ = 0;
};

}  // namespace longctx::train
