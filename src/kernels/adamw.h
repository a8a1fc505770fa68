#pragma once
#include <cstdint>

namespace longctx::kernels {

struct AdamWParams {
  float lr = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // decoupled: p -= lr * wd * p (pass 0 for norms)
};

// One AdamW step on n parameters with bias correction; step is 1-based.
// m, v (n) are the first and second moments, updated in place.
void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n,
                  const AdamWParams& hp, int64_t step);

// Global L2 norm over several gradient tensors is sqrt(sum of sum_squares);
// clip_scale returns min(1, max_norm / (norm + 1e-6)), to be applied with scale_inplace.
float clip_scale(double global_norm, float max_norm);

}  // namespace longctx::kernels
