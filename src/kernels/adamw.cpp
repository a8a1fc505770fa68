#include "kernels/adamw.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace longctx::kernels {

// Decoupled weight decay (Loshchilov & Hutter): the decay term lr * wd * p is added
// beside the Adam step, not folded into the gradient. Bias corrections in double.
void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n,
                  const AdamWParams& hp, int64_t step) {
  LONGCTX_CHECK(step >= 1, "adamw_update: step must be >= 1 (1-based), got %ld",
                static_cast<long>(step));
  const float b1 = hp.beta1, b2 = hp.beta2;
  const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(b1), static_cast<double>(step))));
  const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(b2), static_cast<double>(step))));
  const float lr = hp.lr, wd = hp.weight_decay, eps = hp.eps;
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi * c1, vhat = vi * c2;
    params[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + wd * params[i]);
  }
}

float clip_scale(double global_norm, float max_norm) {
  return static_cast<float>(std::min(1.0, static_cast<double>(max_norm) / (global_norm + 1e-6)));
}

}  // namespace longctx::kernels
