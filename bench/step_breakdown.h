// Where a training step's time goes: replays, in isolation, the kernels one
// forward+backward of a LLaMA preset calls at its exact shapes (per layer: fused
// qkv/o/gate_up/down matmuls, attention, RMSNorm, RoPE, SwiGLU, residual adds;
// embedding; fused head + cross-entropy) and times each class. The model's step
// time minus the sum is the overhead the model adds around its kernels (copies,
// zeroing, cache misses between kernels). With recomputation every layer's
// forward runs twice, so its forward kernels are counted twice.
#pragma once
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/buffer.h"
#include "core/timer.h"
#include "kernels/attention.h"
#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope_apply.h"
#include "kernels/swiglu.h"
#include "model/config.h"

namespace longctx::bench {

struct StepBreakdown {
  double matmul_s = 0;      // the layers' Linear products (fwd, dx, dW)
  double attention_s = 0;   // attention forward + backward
  double head_loss_s = 0;   // fused output head + cross-entropy (fwd+bwd), includes its matmuls
  double elementwise_s = 0; // RMSNorm, RoPE, SwiGLU, residual, embedding (fwd+bwd)
  double head_matmul_flops = 0, layer_matmul_flops = 0, attention_flops = 0;
  double total() const { return matmul_s + attention_s + head_loss_s + elementwise_s; }
};

// Times one step's kernels for config at (B, T); each class measured `reps` times and the
// best taken, so the figures are the kernels' own speed on this machine.
inline StepBreakdown measure_step_breakdown(const model::ModelConfig& cfg, int64_t B, int64_t T,
                                            bool recompute, int reps = 2) {
  const int64_t N = B * T, C = cfg.dim, F = cfg.ffn_dim, V = cfg.vocab_size;
  const int H = int(cfg.n_heads), Hkv = int(cfg.n_kv_heads), D = int(cfg.resolved_head_dim());
  const int64_t Q = int64_t(H) * D, KV = int64_t(Hkv) * D, QKV = Q + 2 * KV;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto filled = [&](size_t n) {
    Buffer<float> b(n);
    for (size_t i = 0; i < n; ++i) b[i] = u(rng);
    return b;
  };
  Buffer<float> x = filled(static_cast<size_t>(N * C)), dx(static_cast<size_t>(N * C)), y(static_cast<size_t>(N * C));
  Buffer<float> wqkv = filled(static_cast<size_t>(QKV * C)), wo = filled(static_cast<size_t>(C * Q));
  Buffer<float> wgu = filled(static_cast<size_t>(2 * F * C)), wd = filled(static_cast<size_t>(C * F));
  Buffer<float> dw(static_cast<size_t>(std::max({QKV * C, 2 * F * C, V * C})));
  Buffer<float> qkv = filled(static_cast<size_t>(N * QKV)), dqkv(static_cast<size_t>(N * QKV));
  Buffer<float> gu = filled(static_cast<size_t>(N * 2 * F)), dgu(static_cast<size_t>(N * 2 * F));
  Buffer<float> h = filled(static_cast<size_t>(N * F)), dh(static_cast<size_t>(N * F));
  Buffer<float> att = filled(static_cast<size_t>(N * Q)), datt(static_cast<size_t>(N * Q));
  Buffer<float> q = filled(static_cast<size_t>(N * Q)), k = filled(static_cast<size_t>(N * KV)), v = filled(static_cast<size_t>(N * KV));
  Buffer<float> dq(static_cast<size_t>(N * Q)), dk(static_cast<size_t>(N * KV)), dv(static_cast<size_t>(N * KV));
  Buffer<float> lse(static_cast<size_t>(B * H * T)), rstd(static_cast<size_t>(N)), normw = filled(static_cast<size_t>(C)), dnormw(static_cast<size_t>(C));
  Buffer<float> head = filled(static_cast<size_t>(V * C));
  std::vector<int32_t> tokens(static_cast<size_t>(N));
  for (auto& t : tokens) t = int32_t(rng() % uint32_t(V));
  kernels::RopeFreqs freqs;
  for (int j = 0; j < D / 2; ++j) freqs.theta.push_back(std::pow(10000.0, -2.0 * j / D));
  const kernels::RopeCache rope = kernels::rope_cache_build(freqs, D, T);
  const double fwd_passes = recompute ? 2.0 : 1.0;

  auto best_of = [&](auto&& fn) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      Timer t;
      fn();
      best = std::min(best, t.seconds());
    }
    return best;
  };
  StepBreakdown b;
  // One layer's Linear products; forward counted once per forward pass.
  const double mm_fwd = best_of([&] {
    kernels::matmul_forward(qkv.data(), x.data(), wqkv.data(), N, C, QKV);
    kernels::matmul_forward(x.data(), att.data(), wo.data(), N, Q, C);
    kernels::matmul_forward(gu.data(), x.data(), wgu.data(), N, C, 2 * F);
    kernels::matmul_forward(x.data(), h.data(), wd.data(), N, F, C);
  });
  const double mm_bwd = best_of([&] {
    kernels::matmul_backward(dh.data(), dw.data(), y.data(), h.data(), wd.data(), N, F, C);
    kernels::matmul_backward(dx.data(), dw.data(), dgu.data(), x.data(), wgu.data(), N, C, 2 * F);
    kernels::matmul_backward(datt.data(), dw.data(), y.data(), att.data(), wo.data(), N, Q, C);
    kernels::matmul_backward(dx.data(), dw.data(), dqkv.data(), x.data(), wqkv.data(), N, C, QKV,
                             true);
  });
  b.matmul_s = double(cfg.n_layers) * (fwd_passes * mm_fwd + mm_bwd);
  b.layer_matmul_flops = 6.0 * double(N) * double(cfg.n_layers) * double(QKV * C + C * Q + 3 * F * C);

  kernels::AttentionShape as;
  as.B = B, as.T_q = T, as.T_kv = T, as.n_heads = H, as.n_kv_heads = Hkv, as.head_dim = D;
  // Attention's tile products in the step's precision, as the model sets them.
  as.bf16_products = kernels::matmul_precision() == kernels::MatmulPrecision::kBf16;
  const double at_fwd = best_of(
      [&] { kernels::attention_forward(att.data(), lse.data(), q.data(), k.data(), v.data(), as); });
  const double at_bwd = best_of([&] {
    kernels::attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), att.data(), lse.data(),
                                q.data(), k.data(), v.data(), as);
  });
  b.attention_s = double(cfg.n_layers) * (fwd_passes * at_fwd + at_bwd);
  b.attention_flops = 6.0 * double(cfg.n_layers) * double(C) * double(T) * double(N);

  b.head_loss_s = best_of([&] {
    kernels::lm_head_cross_entropy_forward_backward(dx.data(), dw.data(), x.data(), head.data(),
                                                    tokens.data(), N, C, V, 1.0f / float(N));
  });
  b.head_matmul_flops = 6.0 * double(N) * double(V) * double(C);

  const double el_fwd = best_of([&] {
    kernels::rmsnorm_forward(y.data(), rstd.data(), x.data(), normw.data(), N, C, cfg.norm_eps);
    kernels::rope_forward(q.data(), q.data(), rope, nullptr, 0, B, T, H, kernels::RopeRole::kQuery);
    kernels::rope_forward(k.data(), k.data(), rope, nullptr, 0, B, T, Hkv, kernels::RopeRole::kKey);
    kernels::residual_forward(y.data(), y.data(), x.data(), N * C);
    kernels::rmsnorm_forward(y.data(), rstd.data(), x.data(), normw.data(), N, C, cfg.norm_eps);
    kernels::swiglu_forward(h.data(), gu.data(), N, F);
    kernels::residual_forward(y.data(), y.data(), x.data(), N * C);
  });
  const double el_bwd = best_of([&] {
    kernels::swiglu_backward(dgu.data(), dh.data(), gu.data(), N, F);
    kernels::rmsnorm_backward(dx.data(), dnormw.data(), y.data(), x.data(), normw.data(), rstd.data(),
                              N, C, true);
    kernels::rope_backward(dq.data(), dq.data(), rope, nullptr, 0, B, T, H, kernels::RopeRole::kQuery);
    kernels::rope_backward(dk.data(), dk.data(), rope, nullptr, 0, B, T, Hkv, kernels::RopeRole::kKey);
    kernels::rmsnorm_backward(dx.data(), dnormw.data(), y.data(), x.data(), normw.data(), rstd.data(),
                              N, C, true);
    kernels::add_inplace(y.data(), x.data(), N * C);
    kernels::add_inplace(y.data(), x.data(), N * C);
  });
  const double emb = best_of([&] {
    kernels::embedding_forward(x.data(), tokens.data(), head.data(), N, C, V);
    kernels::embedding_backward(dw.data(), x.data(), tokens.data(), N, C);
    kernels::rmsnorm_forward(y.data(), rstd.data(), x.data(), normw.data(), N, C, cfg.norm_eps);
    kernels::rmsnorm_backward(dx.data(), dnormw.data(), y.data(), x.data(), normw.data(), rstd.data(),
                              N, C);
  });
  b.elementwise_s = double(cfg.n_layers) * (fwd_passes * el_fwd + el_bwd) + emb;
  return b;
}

}  // namespace longctx::bench
