#include "model/llama_layer.h"

#include <cstring>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

namespace longctx::model {

namespace {

// Below this many floats a copy is not worth waking the thread pool.
constexpr int64_t kParallelMin = 1 << 16;

struct Dims {
  int64_t N, C, D, H, Hkv, F, QD, KD, QKV;
  explicit Dims(const ModelConfig& cfg, int64_t B, int64_t T)
      : N(B * T),
        C(cfg.dim),
        D(cfg.resolved_head_dim()),
        H(cfg.n_heads),
        Hkv(cfg.n_kv_heads),
        F(cfg.ffn_dim),
        QD(H * D),
        KD(Hkv * D),
        QKV(QD + 2 * KD) {}
};

kernels::AttentionShape attention_shape(const Dims& d, const LayerStepArgs& args) {
  kernels::AttentionShape s;
  s.B = args.B;
  s.T_q = args.T;
  s.T_kv = args.pos_offset + args.T;
  s.n_heads = static_cast<int>(d.H);
  s.n_kv_heads = static_cast<int>(d.Hkv);
  s.head_dim = static_cast<int>(d.D);
  s.kv_batch_stride = args.kv_capacity * d.KD;
  // Attention's tile products follow the model's other products (gemm.h).
  s.bf16_products = kernels::matmul_precision() == kernels::MatmulPrecision::kBf16;
  return s;
}

// Row n = (b, t) of qkv (N, QKV) -> q (N, QD), k/v cache rows (b, pos_offset + t).
void split_qkv(float* q, const float* qkv, const Dims& d, const LayerStepArgs& args) {
  const int64_t T = args.T;
#pragma omp parallel for schedule(static) if (d.N * d.QKV >= kParallelMin)
  for (int64_t n = 0; n < d.N; ++n) {
    const int64_t b = n / T, t = n % T;
    const float* src = qkv + n * d.QKV;
    const int64_t kv_row = (b * args.kv_capacity + args.pos_offset + t) * d.KD;
    std::memcpy(q + n * d.QD, src, static_cast<size_t>(d.QD) * sizeof(float));
    std::memcpy(args.k_cache + kv_row, src + d.QD, static_cast<size_t>(d.KD) * sizeof(float));
    std::memcpy(args.v_cache + kv_row, src + d.QD + d.KD, static_cast<size_t>(d.KD) * sizeof(float));
  }
}

// dq (N, QD), dk, dv (N, KD) -> dqkv (N, QKV).
void pack_qkv(float* dqkv, const float* dq, const float* dk, const float* dv, const Dims& d) {
#pragma omp parallel for schedule(static) if (d.N * d.QKV >= kParallelMin)
  for (int64_t n = 0; n < d.N; ++n) {
    float* dst = dqkv + n * d.QKV;
    std::memcpy(dst, dq + n * d.QD, static_cast<size_t>(d.QD) * sizeof(float));
    std::memcpy(dst + d.QD, dk + n * d.KD, static_cast<size_t>(d.KD) * sizeof(float));
    std::memcpy(dst + d.QD + d.KD, dv + n * d.KD, static_cast<size_t>(d.KD) * sizeof(float));
  }
}

}  // namespace

void layer_forward(const ModelConfig& cfg, const LayerWeights& w, LayerActivations& a,
                   const float* x_in, float* x_out, const LayerStepArgs& args) {
  const Dims d(cfg, args.B, args.T);
  const int H = static_cast<int>(d.H), Hkv = static_cast<int>(d.Hkv);
  // Attention block.
  kernels::rmsnorm_forward(a.xn1, a.rstd1, x_in, w.attn_norm, d.N, d.C, cfg.norm_eps);
  kernels::matmul_forward(args.qkv, a.xn1, w.wqkv, d.N, d.C, d.QKV);
  split_qkv(a.q, args.qkv, d, args);
  kernels::rope_forward(a.q, a.q, *args.rope, args.positions, args.pos_offset, args.B, args.T, H,
                        kernels::RopeRole::kQuery);
  for (int64_t b = 0; b < args.B; ++b) {
    float* k_new = args.k_cache + (b * args.kv_capacity + args.pos_offset) * d.KD;
    const int32_t* k_pos = args.positions ? args.positions + b * args.T : nullptr;
    kernels::rope_forward(k_new, k_new, *args.rope, k_pos, args.pos_offset, 1, args.T, Hkv,
                          kernels::RopeRole::kKey);
  }
  if (args.attention)
    args.attention->forward(a.att, a.lse, a.q, args.k_cache, args.v_cache, attention_shape(d, args),
                            args.segment_ids);
  else
    kernels::attention_forward(a.att, a.lse, a.q, args.k_cache, args.v_cache,
                               attention_shape(d, args), args.segment_ids);
  // x_mid = x_in + att @ wo^T
  std::memcpy(a.x_mid, x_in, static_cast<size_t>(d.N * d.C) * sizeof(float));
  kernels::matmul_forward(a.x_mid, a.att, w.wo, d.N, d.QD, d.C, /*accumulate=*/true);
  // Feed-forward block.
  kernels::rmsnorm_forward(a.xn2, a.rstd2, a.x_mid, w.ffn_norm, d.N, d.C, cfg.norm_eps);
  kernels::matmul_forward(a.gu, a.xn2, w.w_gate_up, d.N, d.C, 2 * d.F);
  kernels::swiglu_forward(a.h, a.gu, d.N, d.F);
  if (x_out != nullptr) {
    std::memcpy(x_out, a.x_mid, static_cast<size_t>(d.N * d.C) * sizeof(float));
    kernels::matmul_forward(x_out, a.h, w.w_down, d.N, d.F, d.C, /*accumulate=*/true);
  }
}

void layer_backward(const ModelConfig& cfg, const LayerWeights& w, const LayerWeights& g,
                    LayerActivations& a, const float* x_in, float* dres, BackwardScratch& s,
                    float* dqkv, const LayerStepArgs& args) {
  const Dims d(cfg, args.B, args.T);
  const int H = static_cast<int>(d.H), Hkv = static_cast<int>(d.Hkv);
  // Feed-forward block: x_out = x_mid + swiglu(xn2 @ w_gate_up^T) @ w_down^T.
  kernels::swiglu_forward(a.h, a.gu, d.N, d.F);
  kernels::rmsnorm_forward(a.xn2, a.rstd2, a.x_mid, w.ffn_norm, d.N, d.C, cfg.norm_eps);
  kernels::matmul_backward(s.dh, g.w_down, dres, a.h, w.w_down, d.N, d.F, d.C);
  kernels::swiglu_backward(s.dgu, s.dh, a.gu, d.N, d.F);
  kernels::matmul_backward(s.dxn, g.w_gate_up, s.dgu, a.xn2, w.w_gate_up, d.N, d.C, 2 * d.F);
  kernels::rmsnorm_backward(dres, g.ffn_norm, s.dxn, a.x_mid, w.ffn_norm, a.rstd2, d.N, d.C,
                            /*accumulate=*/true);
  // Attention block: x_mid = x_in + attention(rope(q), rope(k), v) @ wo^T.
  kernels::matmul_backward(s.datt, g.wo, dres, a.att, w.wo, d.N, d.QD, d.C);
  if (args.attention)
    args.attention->backward(s.dq, s.dk, s.dv, s.datt, a.att, a.lse, a.q, args.k_cache,
                             args.v_cache, attention_shape(d, args), args.segment_ids);
  else
    kernels::attention_backward(s.dq, s.dk, s.dv, s.datt, a.att, a.lse, a.q, args.k_cache,
                                args.v_cache, attention_shape(d, args), args.segment_ids);
  kernels::rope_backward(s.dq, s.dq, *args.rope, args.positions, args.pos_offset, args.B, args.T,
                         H, kernels::RopeRole::kQuery);
  kernels::rope_backward(s.dk, s.dk, *args.rope, args.positions, args.pos_offset, args.B, args.T,
                         Hkv, kernels::RopeRole::kKey);
  pack_qkv(dqkv, s.dq, s.dk, s.dv, d);
  kernels::rmsnorm_forward(a.xn1, a.rstd1, x_in, w.attn_norm, d.N, d.C, cfg.norm_eps);
  kernels::matmul_backward(s.dxn, g.wqkv, dqkv, a.xn1, w.wqkv, d.N, d.C, d.QKV);
  kernels::rmsnorm_backward(dres, g.attn_norm, s.dxn, x_in, w.attn_norm, a.rstd1, d.N, d.C,
                            /*accumulate=*/true);
}

}  // namespace longctx::model
