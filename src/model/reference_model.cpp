#include "model/reference_model.h"

#include "core/error.h"
#include "kernels/attention_reference.h"
#include "kernels/reference.h"
#include "rope/rope_spec.h"

namespace longctx::model {

namespace {

using Vec = std::vector<double>;
namespace ref = kernels::ref;

// Offsets of one layer's tensors in the flat parameter layout.
struct LayerOffsets {
  size_t attn_norm, wqkv, wo, ffn_norm, w_gate_up, w_down;
};

struct Layout {
  size_t embed, norm, head;
  std::vector<LayerOffsets> layers;
  explicit Layout(const ModelConfig& cfg) {
    ParameterSet p(cfg);  // tiny configs only: used for its offsets
    const float* base = p.data();
    auto off = [&](const float* x) { return static_cast<size_t>(x - base); };
    embed = off(p.embedding());
    norm = off(p.final_norm());
    head = off(p.lm_head());
    for (int64_t l = 0; l < cfg.n_layers; ++l) {
      const LayerWeights w = p.layer(l);
      layers.push_back({off(w.attn_norm), off(w.wqkv), off(w.wo), off(w.ffn_norm),
                        off(w.w_gate_up), off(w.w_down)});
    }
  }
};

struct LayerActs {
  Vec x_in, rstd1, xn1, qkv, q, k, v, att, x_mid, rstd2, xn2, gu, h;
};

Vec zeros(int64_t n) { return Vec(static_cast<size_t>(n), 0.0); }

}  // namespace

std::vector<double> to_double(const ParameterSet& params) {
  return std::vector<double>(params.data(), params.data() + params.size());
}

ReferenceResult reference_forward(const ModelConfig& cfg, const std::vector<double>& params,
                                  const int32_t* tokens, const int32_t* targets, int64_t B,
                                  int64_t T, const ReferenceRequest& request) {
  cfg.validate();
  LONGCTX_CHECK(static_cast<int64_t>(params.size()) == cfg.num_parameters(),
                "reference_forward: %zu parameters, config needs %lld", params.size(),
                static_cast<long long>(cfg.num_parameters()));
  const Layout lay(cfg);
  const int64_t N = B * T, C = cfg.dim, D = cfg.resolved_head_dim(), H = cfg.n_heads,
                Hkv = cfg.n_kv_heads, F = cfg.ffn_dim, V = cfg.vocab_size, L = cfg.n_layers;
  const int64_t QD = H * D, KD = Hkv * D, QKV = QD + 2 * KD;
  const double* P = params.data();
  const int64_t n_positions = request.position_limit > 0 ? request.position_limit : T;
  const int32_t* positions = request.position_ids;
  const kernels::RopeFreqs freqs = rope::rope_frequencies(cfg.rope, static_cast<int>(D), n_positions);
  const ref::RopeRefParams rp{static_cast<int>(D), n_positions / 2};
  kernels::AttentionShape shape;
  shape.B = B, shape.T_q = T, shape.T_kv = T, shape.n_heads = static_cast<int>(H),
  shape.n_kv_heads = static_cast<int>(Hkv), shape.head_dim = static_cast<int>(D);

  std::vector<LayerActs> acts(static_cast<size_t>(L));
  Vec x = zeros(N * C);
  ref::embedding_forward(x.data(), tokens, P + lay.embed, N, C, V);
  for (int64_t l = 0; l < L; ++l) {
    const LayerOffsets& o = lay.layers[static_cast<size_t>(l)];
    LayerActs& a = acts[static_cast<size_t>(l)];
    a.x_in = x;
    a.rstd1 = zeros(N), a.xn1 = zeros(N * C), a.qkv = zeros(N * QKV);
    ref::rmsnorm_forward(a.xn1.data(), a.rstd1.data(), a.x_in.data(), P + o.attn_norm, N, C,
                         cfg.norm_eps);
    ref::matmul_forward(a.qkv.data(), a.xn1.data(), P + o.wqkv, N, C, QKV);
    a.q = zeros(N * QD), a.k = zeros(N * KD), a.v = zeros(N * KD);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < QD; ++i) a.q[n * QD + i] = a.qkv[n * QKV + i];
      for (int64_t i = 0; i < KD; ++i) a.k[n * KD + i] = a.qkv[n * QKV + QD + i];
      for (int64_t i = 0; i < KD; ++i) a.v[n * KD + i] = a.qkv[n * QKV + QD + KD + i];
    }
    ref::rope_forward(a.q.data(), a.q.data(), freqs, rp, positions, 0, B, T, static_cast<int>(H),
                      kernels::RopeRole::kQuery);
    ref::rope_forward(a.k.data(), a.k.data(), freqs, rp, positions, 0, B, T, static_cast<int>(Hkv),
                      kernels::RopeRole::kKey);
    a.att = zeros(N * QD);
    ref::attention_forward(a.att.data(), nullptr, a.q.data(), a.k.data(), a.v.data(), shape);
    a.x_mid = a.x_in;
    ref::matmul_forward(a.x_mid.data(), a.att.data(), P + o.wo, N, QD, C, /*accumulate=*/true);
    a.rstd2 = zeros(N), a.xn2 = zeros(N * C), a.gu = zeros(N * 2 * F), a.h = zeros(N * F);
    ref::rmsnorm_forward(a.xn2.data(), a.rstd2.data(), a.x_mid.data(), P + o.ffn_norm, N, C,
                         cfg.norm_eps);
    ref::matmul_forward(a.gu.data(), a.xn2.data(), P + o.w_gate_up, N, C, 2 * F);
    ref::swiglu_forward(a.h.data(), a.gu.data(), N, F);
    x = a.x_mid;
    ref::matmul_forward(x.data(), a.h.data(), P + o.w_down, N, F, C, /*accumulate=*/true);
  }
  Vec xf = zeros(N * C), rstd_f = zeros(N);
  ref::rmsnorm_forward(xf.data(), rstd_f.data(), x.data(), P + lay.norm, N, C, cfg.norm_eps);

  ReferenceResult result;
  if (request.logits) {
    result.logits = zeros(N * V);
    ref::lm_head_logits(result.logits.data(), xf.data(), P + lay.head, N, C, V);
  }
  if (targets == nullptr) return result;
  if (!request.grads) {
    const kernels::LossSum ls =
        ref::lm_head_cross_entropy_forward(nullptr, xf.data(), P + lay.head, targets, N, C, V);
    result.loss_sum = ls.loss_sum, result.n_valid = ls.n_valid;
    return result;
  }

  // Backward, mirroring the forward in reverse.
  int64_t n_valid = 0;
  for (int64_t i = 0; i < N; ++i) n_valid += targets[i] != kernels::kIgnoreIndex;
  const double scale = n_valid > 0 ? 1.0 / static_cast<double>(n_valid) : 0.0;
  result.grads = zeros(static_cast<int64_t>(params.size()));
  double* G = result.grads.data();
  Vec dxf = zeros(N * C), dres = zeros(N * C);
  const kernels::LossSum ls = ref::lm_head_cross_entropy_forward_backward(
      dxf.data(), G + lay.head, xf.data(), P + lay.head, targets, N, C, V, scale);
  result.loss_sum = ls.loss_sum, result.n_valid = ls.n_valid;
  ref::rmsnorm_backward(dres.data(), G + lay.norm, dxf.data(), x.data(), P + lay.norm, rstd_f.data(),
                        N, C);
  Vec dh = zeros(N * F), dgu = zeros(N * 2 * F), dxn = zeros(N * C), datt = zeros(N * QD),
      dq = zeros(N * QD), dk = zeros(N * KD), dv = zeros(N * KD), dqkv = zeros(N * QKV);
  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerOffsets& o = lay.layers[static_cast<size_t>(l)];
    const LayerActs& a = acts[static_cast<size_t>(l)];
    ref::matmul_backward(dh.data(), G + o.w_down, dres.data(), a.h.data(), P + o.w_down, N, F, C);
    ref::swiglu_backward(dgu.data(), dh.data(), a.gu.data(), N, F);
    ref::matmul_backward(dxn.data(), G + o.w_gate_up, dgu.data(), a.xn2.data(), P + o.w_gate_up, N,
                         C, 2 * F);
    ref::rmsnorm_backward(dres.data(), G + o.ffn_norm, dxn.data(), a.x_mid.data(), P + o.ffn_norm,
                          a.rstd2.data(), N, C, /*accumulate=*/true);
    ref::matmul_backward(datt.data(), G + o.wo, dres.data(), a.att.data(), P + o.wo, N, QD, C);
    ref::attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), a.q.data(), a.k.data(),
                            a.v.data(), shape);
    ref::rope_backward(dq.data(), dq.data(), freqs, rp, positions, 0, B, T, static_cast<int>(H),
                       kernels::RopeRole::kQuery);
    ref::rope_backward(dk.data(), dk.data(), freqs, rp, positions, 0, B, T, static_cast<int>(Hkv),
                       kernels::RopeRole::kKey);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t i = 0; i < QD; ++i) dqkv[n * QKV + i] = dq[n * QD + i];
      for (int64_t i = 0; i < KD; ++i) dqkv[n * QKV + QD + i] = dk[n * KD + i];
      for (int64_t i = 0; i < KD; ++i) dqkv[n * QKV + QD + KD + i] = dv[n * KD + i];
    }
    ref::matmul_backward(dxn.data(), G + o.wqkv, dqkv.data(), a.xn1.data(), P + o.wqkv, N, C, QKV);
    ref::rmsnorm_backward(dres.data(), G + o.attn_norm, dxn.data(), a.x_in.data(), P + o.attn_norm,
                          a.rstd1.data(), N, C, /*accumulate=*/true);
  }
  ref::embedding_backward(G + lay.embed, dres.data(), tokens, N, C);
  return result;
}

}  // namespace longctx::model
