#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/adamw.h"
#include "kernels/elementwise.h"

namespace longctx::train {

void AdamWOptions::validate() const {
  LONGCTX_CHECK(beta1 >= 0 && beta1 < 1, "--beta1: must be in [0, 1), got %g", beta1);
  LONGCTX_CHECK(beta2 >= 0 && beta2 < 1, "--beta2: must be in [0, 1), got %g", beta2);
  LONGCTX_CHECK(eps > 0, "--adam-eps: must be positive, got %g", eps);
  LONGCTX_CHECK(weight_decay >= 0, "--weight-decay: must be >= 0, got %g", weight_decay);
  LONGCTX_CHECK(clip_norm >= 0, "--clip: must be >= 0 (0 = off), got %g", clip_norm);
}

AdamW::AdamW(const model::ModelConfig& config, const AdamWOptions& options)
    : options_(options), m_(config), v_(config) {
  options_.validate();
}

double AdamW::global_norm(const model::ParameterSet& grads) {
  // One pass over the flat buffer: sum_squares reduces blocks in a fixed order.
  return std::sqrt(kernels::sum_squares(grads.data(), static_cast<int64_t>(grads.size())));
}

bool AdamW::decays(const model::ParamEntry& entry) const {
  if (!entry.weight_decay) return false;  // norm weights
  return options_.decay_embeddings || entry.name != "model.embed_tokens.weight";
}

OptimizerStepStats AdamW::step(model::ParameterSet& params, model::ParameterSet& grads, double lr,
                               double grad_norm) {
  LONGCTX_CHECK(params.size() == m_.size() && grads.size() == m_.size(),
                "AdamW: parameters (%zu floats) and gradients (%zu) do not match the optimizer "
                "state (%zu)",
                params.size(), grads.size(), m_.size());
  OptimizerStepStats stats;
  stats.grad_norm = grad_norm;
  if (options_.clip_norm > 0) {
    stats.clip_scale = kernels::clip_scale(grad_norm, static_cast<float>(options_.clip_norm));
    if (stats.clip_scale < 1.0)
      kernels::scale_inplace(grads.data(), static_cast<float>(stats.clip_scale),
                             static_cast<int64_t>(grads.size()));
  }
  ++steps_;
  kernels::AdamWParams hp;
  hp.lr = static_cast<float>(lr);
  hp.beta1 = static_cast<float>(options_.beta1);
  hp.beta2 = static_cast<float>(options_.beta2);
  hp.eps = static_cast<float>(options_.eps);
  const float* g = grads.data();
  float* m = m_.data();
  float* v = v_.data();
  params.for_each([&](const model::ParamEntry& e, float* p) {
    hp.weight_decay = decays(e) ? static_cast<float>(options_.weight_decay) : 0.0f;
    kernels::adamw_update(p, g + e.offset, m + e.offset, v + e.offset, e.shape.numel(), hp, steps_);
  });
  return stats;
}

}  // namespace longctx::train
