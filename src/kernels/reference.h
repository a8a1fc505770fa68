// Plain scalar references of the kernels, in double: no SIMD, no BLAS, no
// tiling, no threads. Same argument order and accumulation rule as the real
// kernels (parameter gradients +=, activation gradients =). Tests compare the
// float kernels against these, and the model tests build a double-precision
// reference model from them for whole-model finite-difference checks.
#pragma once
#include <cstdint>

#include "kernels/adamw.h"
#include "kernels/cross_entropy.h"
#include "kernels/rope_apply.h"

namespace longctx::kernels::ref {

// out (N, C) = table[tokens[n]]; throws Error if a token is outside [0, V).
void embedding_forward(double* out, const int32_t* tokens, const double* table, int64_t N,
                       int64_t C, int64_t V);
// dtable (V, C) += scatter of dout (N, C).
void embedding_backward(double* dtable, const double* dout, const int32_t* tokens, int64_t N,
                        int64_t C);

// out (N, C) = x * rstd * weight; rstd (N) = 1 / sqrt(mean(x^2) + eps).
void rmsnorm_forward(double* out, double* rstd, const double* x, const double* weight, int64_t N,
                     int64_t C, double eps);
// dx (N, C) = (or +=), dweight (C) +=.
void rmsnorm_backward(double* dx, double* dweight, const double* dout, const double* x,
                      const double* weight, const double* rstd, int64_t N, int64_t C,
                      bool accumulate = false);

// out (N, M) = x (N, K) @ w (M, K)^T (or +=).
void matmul_forward(double* out, const double* x, const double* w, int64_t N, int64_t K, int64_t M,
                    bool accumulate = false);
// dx (N, K) = dout @ w (or +=); dw (M, K) += dout^T @ x. Either may be null.
void matmul_backward(double* dx, double* dw, const double* dout, const double* x, const double* w,
                     int64_t N, int64_t K, int64_t M, bool accumulate_dx = false);

// gate_up (N, 2H) = [gate | up]; out (N, H) = silu(gate) * up.
void swiglu_forward(double* out, const double* gate_up, int64_t N, int64_t H);
// dgate_up (N, 2H) =.
void swiglu_backward(double* dgate_up, const double* dout, const double* gate_up, int64_t N,
                     int64_t H);

// RoPE on x (B, T, n_heads, head_dim), angles pos * theta_j computed in double
// straight from the frequencies (no cache). positions (B, T) or null (row t is
// at t + pos_offset; pos_offset is ignored when positions are given).
// xPos: q *= zeta^((pos - xpos_center) / scale_base), k by the inverse. The
// float kernel centres at rope_cache n_positions / 2 (see rope_apply.cpp); q.k
// products do not depend on the centre, only intermediate q and k do.
// Pairs beyond freqs.theta.size() are copied unchanged.
struct RopeRefParams {
  int head_dim = 0;
  int64_t xpos_center = 0;
};
void rope_forward(double* out, const double* in, const RopeFreqs& freqs, const RopeRefParams& p,
                  const int32_t* positions, int64_t pos_offset, int64_t B, int64_t T, int n_heads,
                  RopeRole role);
// din (B, T, n_heads, head_dim) = R^T dout.
void rope_backward(double* din, const double* dout, const RopeFreqs& freqs, const RopeRefParams& p,
                   const int32_t* positions, int64_t pos_offset, int64_t B, int64_t T, int n_heads,
                   RopeRole role);

// logits (N, V) = x (N, C) @ w (V, C)^T.
void lm_head_logits(double* logits, const double* x, const double* w, int64_t N, int64_t C,
                    int64_t V);
// Per-token losses (N) (0 for ignored targets), via full logits.
LossSum lm_head_cross_entropy_forward(double* losses, const double* x, const double* w,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V);
// dx (N, C) = grad_scale * dloss/dx; dw (V, C) += grad_scale * dloss/dw.
LossSum lm_head_cross_entropy_forward_backward(double* dx, double* dw, const double* x,
                                               const double* w, const int32_t* targets, int64_t N,
                                               int64_t C, int64_t V, double grad_scale);

// One AdamW step (decoupled weight decay, bias correction; step 1-based).
void adamw_update(double* params, const double* grads, double* m, double* v, int64_t n,
                  const AdamWParams& hp, int64_t step);
double clip_scale(double global_norm, double max_norm);

void residual_forward(double* out, const double* a, const double* b, int64_t n);
double sum_squares(const double* x, int64_t n);

}  // namespace longctx::kernels::ref
