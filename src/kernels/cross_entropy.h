// Output projection fused with softmax cross-entropy, in chunks of tokens:
// no (T x vocab) logits matrix ever exists, only (chunk x vocab).
#pragma once
#include <cstdint>

namespace longctx::kernels {

constexpr int32_t kIgnoreIndex = -1;  // target value that contributes no loss

struct LossSum {
  double loss_sum = 0.0;  // sum of -log p(target) over valid tokens
  int64_t n_valid = 0;    // tokens whose target != kIgnoreIndex
};

// Forward and backward in one pass.
// x (N, C) final normed hidden states; w (V, C) output head; targets (N).
// dx (N, C) = grad_scale * dloss/dx; dw (V, C) += grad_scale * dloss/dw.
// grad_scale is typically 1 / (total valid tokens in the step).
// chunk: tokens per chunk (0 = automatic).
LossSum lm_head_cross_entropy_forward_backward(float* dx, float* dw, const float* x, const float* w,
                                               const int32_t* targets, int64_t N, int64_t C,
                                               int64_t V, float grad_scale, int64_t chunk = 0);

// Forward only: per-token losses (N) (0 for ignored targets); for evaluation and
// per-position loss curves. Returns the sum as LossSum.
LossSum lm_head_cross_entropy_forward(float* losses, const float* x, const float* w,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V,
                                      int64_t chunk = 0);

// logits (N, V) for the few rows inference needs (no loss).
void lm_head_logits(float* logits, const float* x, const float* w, int64_t N, int64_t C, int64_t V);

}  // namespace longctx::kernels
