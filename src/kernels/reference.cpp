#include "kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace longctx::kernels::ref {

void embedding_forward(double* out, const int32_t* tokens, const double* table, int64_t N,
                       int64_t C, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    const int32_t t = tokens[n];
    LONGCTX_CHECK(t >= 0 && t < V, "ref::embedding_forward: token %d at row %ld outside [0, %ld)",
                  t, static_cast<long>(n), static_cast<long>(V));
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = table[t * C + c];
  }
}

void embedding_backward(double* dtable, const double* dout, const int32_t* tokens, int64_t N,
                        int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) dtable[tokens[n] * C + c] += dout[n * C + c];
}

void rmsnorm_forward(double* out, double* rstd, const double* x, const double* weight, int64_t N,
                     int64_t C, double eps) {
  for (int64_t n = 0; n < N; ++n) {
    const double* xr = x + n * C;
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += xr[c] * xr[c];
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(C) + eps);
    rstd[n] = r;
    for (int64_t c = 0; c < C; ++c) out[n * C + c] = xr[c] * r * weight[c];
  }
}

// y_j = x_j r w_j with r = (mean(x^2) + eps)^(-1/2), so dr/dx_j = -r^3 x_j / C and
// dx_j = r (w_j g_j - x_j r^2 mean_i(g_i w_i x_i)).
void rmsnorm_backward(double* dx, double* dweight, const double* dout, const double* x,
                      const double* weight, const double* rstd, int64_t N, int64_t C,
                      bool accumulate) {
  for (int64_t n = 0; n < N; ++n) {
    const double* xr = x + n * C;
    const double* g = dout + n * C;
    const double r = rstd[n];
    double s = 0.0;
    for (int64_t c = 0; c < C; ++c) s += g[c] * weight[c] * xr[c];
    const double mean = s / static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const double d = r * (weight[c] * g[c] - xr[c] * r * r * mean);
      dx[n * C + c] = accumulate ? dx[n * C + c] + d : d;
      dweight[c] += g[c] * xr[c] * r;
    }
  }
}

void matmul_forward(double* out, const double* x, const double* w, int64_t N, int64_t K, int64_t M,
                    bool accumulate) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double s = 0.0;
      for (int64_t k = 0; k < K; ++k) s += x[n * K + k] * w[m * K + k];
      out[n * M + m] = accumulate ? out[n * M + m] + s : s;
    }
}

void matmul_backward(double* dx, double* dw, const double* dout, const double* x, const double* w,
                     int64_t N, int64_t K, int64_t M, bool accumulate_dx) {
  if (dx) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0.0;
        for (int64_t m = 0; m < M; ++m) s += dout[n * M + m] * w[m * K + k];
        dx[n * K + k] = accumulate_dx ? dx[n * K + k] + s : s;
      }
  }
  if (dw) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < K; ++k) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) s += dout[n * M + m] * x[n * K + k];
        dw[m * K + k] += s;
      }
  }
}

static double sigmoid(double g) { return 1.0 / (1.0 + std::exp(-g)); }

void swiglu_forward(double* out, const double* gate_up, int64_t N, int64_t H) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h) {
      const double g = gate_up[n * 2 * H + h], u = gate_up[n * 2 * H + H + h];
      out[n * H + h] = g * sigmoid(g) * u;
    }
}

// silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g).
void swiglu_backward(double* dgate_up, const double* dout, const double* gate_up, int64_t N,
                     int64_t H) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h) {
      const double g = gate_up[n * 2 * H + h], u = gate_up[n * 2 * H + H + h];
      const double s = sigmoid(g), d = dout[n * H + h];
      dgate_up[n * 2 * H + h] = d * u * s * (1.0 + g * (1.0 - s));
      dgate_up[n * 2 * H + H + h] = d * g * s;
    }
}

// Rotates (or, with transpose, applies R^T) every row; shared by forward and backward.
static void rope_apply(double* out, const double* in, const RopeFreqs& freqs,
                       const RopeRefParams& p, const int32_t* positions, int64_t pos_offset,
                       int64_t B, int64_t T, int n_heads, RopeRole role, bool transpose) {
  const int D = p.head_dim;
  const int n_pairs = static_cast<int>(freqs.theta.size());
  LONGCTX_CHECK(D > 0 && D % 2 == 0 && n_pairs <= D / 2,
                "ref::rope: head_dim %d must be even and >= 2 * n_pairs (%d)", D, n_pairs);
  const bool xpos = !freqs.xpos_zeta.empty();
  LONGCTX_CHECK(!xpos || static_cast<int>(freqs.xpos_zeta.size()) == n_pairs,
                "ref::rope: xpos_zeta has %zu entries, theta has %d", freqs.xpos_zeta.size(),
                n_pairs);
  const double a = freqs.attention_factor;
  const double sign = transpose ? -1.0 : 1.0;
  const double dir = role == RopeRole::kQuery ? 1.0 : -1.0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t pos = positions ? positions[b * T + t] : t + pos_offset;
      LONGCTX_CHECK(pos >= 0, "ref::rope: negative position %ld", static_cast<long>(pos));
      for (int h = 0; h < n_heads; ++h) {
        const int64_t base = ((b * T + t) * n_heads + h) * D;
        for (int j = 0; j < D / 2; ++j) {
          const double x0 = in[base + 2 * j], x1 = in[base + 2 * j + 1];
          if (j >= n_pairs) {
            out[base + 2 * j] = x0;
            out[base + 2 * j + 1] = x1;
            continue;
          }
          const double ang = static_cast<double>(pos) * freqs.theta[static_cast<size_t>(j)];
          double c = std::cos(ang) * a, s = std::sin(ang) * a * sign;
          if (xpos) {
            const double e = dir * static_cast<double>(pos - p.xpos_center) / freqs.xpos_scale_base;
            const double sc = std::pow(freqs.xpos_zeta[static_cast<size_t>(j)], e);
            c *= sc;
            s *= sc;
          }
          out[base + 2 * j] = x0 * c - x1 * s;
          out[base + 2 * j + 1] = x0 * s + x1 * c;
        }
      }
    }
}

void rope_forward(double* out, const double* in, const RopeFreqs& freqs, const RopeRefParams& p,
                  const int32_t* positions, int64_t pos_offset, int64_t B, int64_t T, int n_heads,
                  RopeRole role) {
  rope_apply(out, in, freqs, p, positions, pos_offset, B, T, n_heads, role, false);
}

void rope_backward(double* din, const double* dout, const RopeFreqs& freqs, const RopeRefParams& p,
                   const int32_t* positions, int64_t pos_offset, int64_t B, int64_t T, int n_heads,
                   RopeRole role) {
  rope_apply(din, dout, freqs, p, positions, pos_offset, B, T, n_heads, role, true);
}

void lm_head_logits(double* logits, const double* x, const double* w, int64_t N, int64_t C,
                    int64_t V) {
  matmul_forward(logits, x, w, N, C, V);
}

// Shared body: per-token loss and, when dx/dw are given, the gradients.
static LossSum cross_entropy(double* losses, double* dx, double* dw, const double* x,
                             const double* w, const int32_t* targets, int64_t N, int64_t C,
                             int64_t V, double grad_scale) {
  std::vector<double> logits(static_cast<size_t>(N * V));
  lm_head_logits(logits.data(), x, w, N, C, V);
  LossSum sum;
  std::vector<double> dlogits(static_cast<size_t>(N * V), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const int32_t t = targets[n];
    if (losses) losses[n] = 0.0;
    if (t == kIgnoreIndex) continue;
    LONGCTX_CHECK(t >= 0 && t < V, "ref::cross_entropy: target %d at row %ld outside [0, %ld)", t,
                  static_cast<long>(n), static_cast<long>(V));
    const double* l = logits.data() + n * V;
    const double mx = *std::max_element(l, l + V);
    double z = 0.0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(l[v] - mx);
    const double loss = std::log(z) + mx - l[t];
    if (losses) losses[n] = loss;
    sum.loss_sum += loss;
    sum.n_valid += 1;
    for (int64_t v = 0; v < V; ++v)
      dlogits[static_cast<size_t>(n * V + v)] =
          grad_scale * (std::exp(l[v] - mx) / z - (v == t ? 1.0 : 0.0));
  }
  if (dx || dw) matmul_backward(dx, dw, dlogits.data(), x, w, N, C, V);
  return sum;
}

LossSum lm_head_cross_entropy_forward(double* losses, const double* x, const double* w,
                                      const int32_t* targets, int64_t N, int64_t C, int64_t V) {
  return cross_entropy(losses, nullptr, nullptr, x, w, targets, N, C, V, 0.0);
}

LossSum lm_head_cross_entropy_forward_backward(double* dx, double* dw, const double* x,
                                               const double* w, const int32_t* targets, int64_t N,
                                               int64_t C, int64_t V, double grad_scale) {
  return cross_entropy(nullptr, dx, dw, x, w, targets, N, C, V, grad_scale);
}

void adamw_update(double* params, const double* grads, double* m, double* v, int64_t n,
                  const AdamWParams& hp, int64_t step) {
  const double b1 = hp.beta1, b2 = hp.beta2;
  const double c1 = 1.0 - std::pow(b1, static_cast<double>(step));
  const double c2 = 1.0 - std::pow(b2, static_cast<double>(step));
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0 - b1) * grads[i];
    v[i] = b2 * v[i] + (1.0 - b2) * grads[i] * grads[i];
    const double mhat = m[i] / c1, vhat = v[i] / c2;
    params[i] -= static_cast<double>(hp.lr) *
                 (mhat / (std::sqrt(vhat) + hp.eps) + static_cast<double>(hp.weight_decay) * params[i]);
  }
}

double clip_scale(double global_norm, double max_norm) {
  return std::min(1.0, max_norm / (global_norm + 1e-6));
}

void residual_forward(double* out, const double* a, const double* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

double sum_squares(const double* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

}  // namespace longctx::kernels::ref
