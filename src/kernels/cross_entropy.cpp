// Fused output projection + softmax cross-entropy, one chunk of tokens at a time:
// logits (rows, V) = x_chunk @ w^T by sgemm, a stable softmax per row turns them in
// place into dlogits = grad_scale * (softmax - onehot), then dx_chunk = dlogits @ w and
// dw += dlogits^T @ x_chunk by sgemm. BLAS threads the gemms; OpenMP threads the
// per-row softmax between them (never nested). Loss sums are added in row order.
#include "kernels/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cross_entropy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/buffer.h"
#include "core/error.h"
#include "kernels/cross_entropy_chunk.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/vec_math-inl.h"

// The per-row softmax is compiled once per SIMD target and dispatched at run time.
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

// Turns one row of logits (V) into probabilities scaled by dscale (if dscale != 0;
// otherwise leaves exp values) and returns -log p(target).
double softmax_row(float* row, int64_t V, int32_t target, float dscale, bool want_grad) {
  const float mx = vec::max_value(row, V);
  const double lt = static_cast<double>(row[target]);
  const double z = vec::exp_shift_sum(row, V, mx);
  const double loss = std::log(z) + static_cast<double>(mx) - lt;
  if (want_grad) {
    const float k = static_cast<float>(static_cast<double>(dscale) / z);
    for (int64_t v = 0; v < V; ++v) row[v] *= k;
    row[target] -= dscale;
  }
  return loss;
}

}  // namespace

// Rows (nr, V) of logits -> row_loss (nr) = -log p(target), and with want_grad the rows
// become dlogits = dscale * (softmax - onehot); ignored rows give loss 0 (and zero rows).
void softmax_rows_target(float* logits, double* row_loss, const int32_t* targets, int64_t nr,
                         int64_t V, float dscale, bool want_grad) {
#pragma omp parallel for schedule(static) if (nr * V > (1 << 15))
  for (int64_t r = 0; r < nr; ++r) {
    float* row = logits + r * V;
    const int32_t t = targets[r];
    if (t == kIgnoreIndex) {
      row_loss[r] = 0.0;
      if (want_grad) std::fill(row, row + V, 0.0f);
    } else {
      row_loss[r] = softmax_row(row, V, t, dscale, want_grad);
    }
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(softmax_rows_target);

int64_t lm_head_chunk_rows(int64_t N, int64_t V, int64_t chunk) {
  LONGCTX_CHECK(chunk >= 0, "lm_head cross-entropy: chunk must be >= 0 (0 = automatic), got %ld",
                static_cast<long>(chunk));
  int64_t rows = chunk;
  if (rows == 0) {
    const int64_t row_bytes = std::max<int64_t>(1, V) * static_cast<int64_t>(sizeof(float));
    rows = std::max<int64_t>(1, static_cast<int64_t>(kLmHeadAutoScratchBytes) / row_bytes);
    // Whole depth blocks of the own GEMM: the chunk's rows are the depth of dW += dlogits^T
    // x, whose (V, C) result is read and written once per depth block (262 rows for
    // V = 32,000 made a second pass over dW for 6 rows).
    if (rows > kGemmDepthBlock) rows = rows / kGemmDepthBlock * kGemmDepthBlock;
  }
  return std::max<int64_t>(1, std::min(rows, N));
}

namespace {

void check_targets(const int32_t* targets, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n)
    LONGCTX_CHECK(targets[n] == kIgnoreIndex || (targets[n] >= 0 && targets[n] < V),
                  "lm_head cross-entropy: target %d at row %ld outside [0, %ld) and not the "
                  "ignore index %d",
                  targets[n], static_cast<long>(n), static_cast<long>(V), kIgnoreIndex);
}

// losses (N) or null; dx/dw null for the forward only.
LossSum run_chunks(float* losses, float* dx, float* dw, const float* x, const float* w,
                   const int32_t* targets, int64_t N, int64_t C, int64_t V, float grad_scale,
                   int64_t chunk) {
  LossSum sum;
  if (N == 0) return sum;
  LONGCTX_CHECK(C > 0 && V > 0, "lm_head cross-entropy: C (%ld) and V (%ld) must be positive",
                static_cast<long>(C), static_cast<long>(V));
  check_targets(targets, N, V);
  const int64_t rows = lm_head_chunk_rows(N, V, chunk);
  const bool want_grad = dx != nullptr || dw != nullptr;
  Buffer<float> logits(static_cast<size_t>(rows * V));  // (rows, V), reused per chunk
  std::vector<double> row_loss(static_cast<size_t>(rows));
  for (int64_t n0 = 0; n0 < N; n0 += rows) {
    const int64_t nr = std::min(rows, N - n0);
    matmul_forward(logits.data(), x + n0 * C, w, nr, C, V);
    HWY_DYNAMIC_DISPATCH(softmax_rows_target)(logits.data(), row_loss.data(), targets + n0, nr, V,
                                              grad_scale, want_grad);
    for (int64_t r = 0; r < nr; ++r) {
      const double l = row_loss[static_cast<size_t>(r)];
      if (losses) losses[n0 + r] = static_cast<float>(l);
      if (targets[n0 + r] != kIgnoreIndex) {
        sum.loss_sum += l;
        sum.n_valid += 1;
      }
    }
    if (want_grad)
      matmul_backward(dx ? dx + n0 * C : nullptr, dw, logits.data(), x + n0 * C, w, nr, C, V);
  }
  return sum;
}

}  // namespace

LossSum lm_head_cross_entropy_forward_backward(float* dx, float* dw, const float* x, const float* w,
                                               const int32_t* targets, int64_t N, int64_t C,
                                               int64_t V, float grad_scale, int64_t chunk) {
  return run_chunks(nullptr, dx, dw, x, w, targets, N, C, V, grad_scale, chunk);
}

LossSum lm_head_cross_entropy_forward(float* losses, const float* x, const float* w,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V,
                                      int64_t chunk) {
  return run_chunks(losses, nullptr, nullptr, x, w, targets, N, C, V, 0.0f, chunk);
}

void lm_head_logits(float* logits, const float* x, const float* w, int64_t N, int64_t C,
                    int64_t V) {
  matmul_forward(logits, x, w, N, C, V);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
