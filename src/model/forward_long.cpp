#include "model/forward_long.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/embedding.h"
#include "kernels/rmsnorm.h"
#include "model/llama_layer.h"

namespace longctx::model {

namespace {

constexpr size_t kFloatAlign = kAlignment / sizeof(float);

int64_t round_up(int64_t n) {
  return (n + static_cast<int64_t>(kFloatAlign) - 1) / static_cast<int64_t>(kFloatAlign) *
         static_cast<int64_t>(kFloatAlign);
}

// The buffers of a workspace, in order. `take(n)` returns n floats (or counts them), so the
// size estimate and the allocation are the same code.
template <class Take>
void lay_out(const ModelConfig& cfg, int64_t T, int64_t chunk, Take&& take, float** residual,
             float** k, float** v, float** qkv, float** x_out, float** rstd, LayerActivations& a) {
  const int64_t C = cfg.dim, D = cfg.resolved_head_dim(), QD = cfg.n_heads * D,
                KD = cfg.n_kv_heads * D, F = cfg.ffn_dim, m = chunk;
  *residual = take(T * C);
  *k = take(T * KD);
  *v = take(T * KD);
  *qkv = take(m * (QD + 2 * KD));
  *x_out = take(m * C);
  *rstd = take(m);
  a = LayerActivations{};
  a.rstd1 = take(m);
  a.xn1 = take(m * C);
  a.xn2 = a.xn1;  // layer_forward is done with xn1 before it writes xn2
  a.q = take(m * QD);
  a.att = take(m * QD);
  a.x_mid = take(m * C);
  a.rstd2 = take(m);
  a.gu = take(m * 2 * F);
  a.h = take(m * F);
}

size_t rope_table_bytes(const ModelConfig& cfg, int64_t T) {
  const kernels::RopeFreqs f =
      rope::rope_frequencies(cfg.rope, static_cast<int>(cfg.resolved_head_dim()), T);
  const size_t tables = f.xpos_zeta.empty() ? 2 : 4;  // cos, sin (+ xPos q and k scales)
  return tables * static_cast<size_t>(T) * f.theta.size() * sizeof(float);
}

}  // namespace

size_t LongForwardWorkspace::bytes_needed(const ModelConfig& config, int64_t T, int64_t chunk) {
  const int64_t m = std::min(chunk, T);
  size_t floats = 0;
  auto count = [&](int64_t n) -> float* {
    floats += static_cast<size_t>(round_up(n));
    return nullptr;
  };
  float* p[6];
  LayerActivations a;
  lay_out(config, T, m, count, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], a);
  return floats * sizeof(float) + rope_table_bytes(config, T);
}

void LongForwardWorkspace::prepare(const ModelConfig& cfg, int64_t T, int64_t chunk) {
  const int64_t m = std::min(chunk, T);
  const bool same_sizes = arena_.capacity() > 0 && T == T_ && m == chunk_ && cfg.dim == config_.dim &&
                          cfg.n_heads == config_.n_heads && cfg.n_kv_heads == config_.n_kv_heads &&
                          cfg.ffn_dim == config_.ffn_dim &&
                          cfg.resolved_head_dim() == config_.resolved_head_dim();
  if (!same_sizes) {
    size_t floats = 0;
    auto count = [&](int64_t n) -> float* {
      floats += static_cast<size_t>(round_up(n));
      return nullptr;
    };
    lay_out(cfg, T, m, count, &residual_, &k_, &v_, &qkv_, &x_out_, &rstd_, acts_);
    arena_ = Arena();  // release the old block before taking the new one
    arena_ = Arena(floats * sizeof(float));
    auto take = [&](int64_t n) { return arena_.alloc<float>(static_cast<size_t>(round_up(n))); };
    lay_out(cfg, T, m, take, &residual_, &k_, &v_, &qkv_, &x_out_, &rstd_, acts_);
    T_ = T;
    chunk_ = m;
  }
  config_ = cfg;
  if (rope_T_ != T || rope_.head_dim != cfg.resolved_head_dim() || !same_rope_spec(rope_spec_, cfg.rope)) {
    rope_T_ = 0;
    const int D = static_cast<int>(cfg.resolved_head_dim());
    rope_ = kernels::rope_cache_build(rope::rope_frequencies(cfg.rope, D, T), D, T);
    rope_spec_ = cfg.rope;
    rope_T_ = T;
    rope_bytes_ = rope_table_bytes(cfg, T);
  }
}

const float* forward_hidden_long(const LlamaModel& model, const int32_t* tokens, int64_t T,
                                 LongForwardWorkspace& ws, int64_t chunk) {
  const ModelConfig& cfg = model.config;
  LONGCTX_CHECK(T > 0 && tokens != nullptr, "forward_hidden_long: need at least one token, got %lld",
                static_cast<long long>(T));
  LONGCTX_CHECK(chunk > 0, "forward_hidden_long: chunk must be positive, got %lld",
                static_cast<long long>(chunk));
  LONGCTX_CHECK(model.params.size() > 0 &&
                    static_cast<int64_t>(model.params.size()) == cfg.num_parameters(),
                "forward_hidden_long: parameters (%zu floats) do not match the config (%lld)",
                model.params.size(), static_cast<long long>(cfg.num_parameters()));
  const int64_t C = cfg.dim, V = cfg.vocab_size;
  for (int64_t i = 0; i < T; ++i)
    LONGCTX_CHECK(tokens[i] >= 0 && tokens[i] < V,
                  "forward_hidden_long: token %d at index %lld outside [0, %lld)", tokens[i],
                  static_cast<long long>(i), static_cast<long long>(V));
  ws.prepare(cfg, T, chunk);
  const int64_t m_max = ws.chunk_;

  kernels::embedding_forward(ws.residual_, tokens, model.params.embedding(), T, C, V);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const LayerWeights w = model.params.layer(l);
    for (int64_t start = 0; start < T; start += m_max) {
      const int64_t m = std::min(m_max, T - start);
      LayerStepArgs args;
      args.B = 1;
      args.T = m;
      args.pos_offset = start;
      args.k_cache = ws.k_;
      args.v_cache = ws.v_;
      args.kv_capacity = T;
      args.rope = &ws.rope_;
      args.qkv = ws.qkv_;
      float* x = ws.residual_ + start * C;  // (m, C) rows of this chunk
      // The chunk's input rows are read only by this chunk (later chunks see this layer's
      // keys and values, not its input), so the output can replace them.
      layer_forward(cfg, w, ws.acts_, x, ws.x_out_, args);
      std::memcpy(x, ws.x_out_, static_cast<size_t>(m * C) * sizeof(float));
    }
  }
  for (int64_t start = 0; start < T; start += m_max) {
    const int64_t m = std::min(m_max, T - start);
    float* x = ws.residual_ + start * C;
    kernels::rmsnorm_forward(ws.x_out_, ws.rstd_, x, model.params.final_norm(), m, C, cfg.norm_eps);
    std::memcpy(x, ws.x_out_, static_cast<size_t>(m * C) * sizeof(float));
  }
  return ws.residual_;
}

}  // namespace longctx::model
