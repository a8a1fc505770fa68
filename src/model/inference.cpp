#include "model/inference.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/rmsnorm.h"
#include "model/llama_layer.h"

namespace longctx::model {

KVCache::KVCache(const ModelConfig& config, int64_t capacity) : config_(config), capacity_(capacity) {
  config.validate();
  LONGCTX_CHECK(capacity > 0, "KVCache: capacity must be positive, got %lld",
                static_cast<long long>(capacity));
  const int64_t KD = config.n_kv_heads * config.resolved_head_dim();
  kv_.assign(static_cast<size_t>(config.n_layers * 2 * capacity * KD), 0.0f);
}

void KVCache::truncate(int64_t n) {
  LONGCTX_CHECK(n >= 0 && n <= position_, "KVCache::truncate: %lld outside [0, %lld]",
                static_cast<long long>(n), static_cast<long long>(position_));
  position_ = n;
}

float* KVCache::k(int64_t layer) {
  const int64_t KD = config_.n_kv_heads * config_.resolved_head_dim();
  return kv_.data() + (layer * 2) * capacity_ * KD;
}

float* KVCache::v(int64_t layer) {
  const int64_t KD = config_.n_kv_heads * config_.resolved_head_dim();
  return kv_.data() + (layer * 2 + 1) * capacity_ * KD;
}

namespace {
bool same_freqs(const kernels::RopeFreqs& a, const kernels::RopeFreqs& b) {
  return a.theta == b.theta && a.attention_factor == b.attention_factor &&
         a.xpos_zeta == b.xpos_zeta && a.xpos_scale_base == b.xpos_scale_base;
}
}  // namespace

const kernels::RopeCache& KVCache::rope_for(const rope::RopeSpec& spec, int64_t needed) {
  const int D = static_cast<int>(config_.resolved_head_dim());
  kernels::RopeFreqs freqs = rope::rope_frequencies(spec, D, needed);
  const bool xpos = !freqs.xpos_zeta.empty();
  const bool changed = !rope_valid_ || !same_freqs(freqs, rope_freqs_);
  if (changed || rope_.n_positions < needed) {
    // Grow geometrically so decoding does not rebuild the table every token.
    int64_t n = xpos ? capacity_ : std::max(needed, changed ? needed : 2 * rope_.n_positions);
    n = std::min(n, capacity_);
    rope_valid_ = false;
    rope_ = kernels::rope_cache_build(freqs, D, n);
    rope_freqs_ = std::move(freqs);
    rope_valid_ = true;
  }
  return rope_;
}

void KVCache::ensure_scratch(int64_t n) {
  if (n <= scratch_tokens_) return;
  const int64_t C = config_.dim, D = config_.resolved_head_dim(), QD = config_.n_heads * D,
                KD = config_.n_kv_heads * D, F = config_.ffn_dim;
  const int64_t per_token = 3 * C + 2 + C + 2 * QD + 2 * F + F + (QD + 2 * KD) + C + 1 + C;
  scratch_.assign(static_cast<size_t>(n * per_token), 0.0f);
  float* p = scratch_.data();
  auto take = [&](int64_t count) {
    float* r = p;
    p += count;
    return r;
  };
  acts_ = LayerActivations{};
  acts_.rstd1 = take(n);
  acts_.xn1 = take(n * C);
  acts_.q = take(n * QD);
  acts_.att = take(n * QD);
  acts_.x_mid = take(n * C);
  acts_.rstd2 = take(n);
  acts_.xn2 = take(n * C);
  acts_.gu = take(n * 2 * F);
  acts_.h = take(n * F);
  x0_ = take(n * C);
  x1_ = take(n * C);
  qkv_ = take(n * (QD + 2 * KD));
  xf_ = take(C);
  rstd_ = take(1);
  scratch_tokens_ = n;
}

void forward_tokens(const LlamaModel& model, KVCache& cache, const int32_t* tokens, int64_t n,
                    float* logits) {
  const ModelConfig& cfg = model.config;
  const int64_t C = cfg.dim, V = cfg.vocab_size;
  LONGCTX_CHECK(n > 0 && tokens != nullptr, "forward_tokens: need at least one token, got %lld",
                static_cast<long long>(n));
  LONGCTX_CHECK(cache.capacity_ > 0 && cache.config_.n_layers == cfg.n_layers &&
                    cache.config_.n_kv_heads == cfg.n_kv_heads &&
                    cache.config_.resolved_head_dim() == cfg.resolved_head_dim() &&
                    cache.config_.dim == cfg.dim && cache.config_.ffn_dim == cfg.ffn_dim &&
                    cache.config_.n_heads == cfg.n_heads,
                "forward_tokens: KV cache was made for a different model config");
  LONGCTX_CHECK(cache.position_ + n <= cache.capacity_,
                "forward_tokens: %lld tokens at position %lld exceed the KV cache capacity %lld",
                static_cast<long long>(n), static_cast<long long>(cache.position_),
                static_cast<long long>(cache.capacity_));
  for (int64_t i = 0; i < n; ++i)
    LONGCTX_CHECK(tokens[i] >= 0 && tokens[i] < V, "forward_tokens: token %d at index %lld outside [0, %lld)",
                  tokens[i], static_cast<long long>(i), static_cast<long long>(V));

  cache.ensure_scratch(std::min(n, kPrefillChunk));
  float* x = nullptr;
  for (int64_t start = 0; start < n; start += kPrefillChunk) {
    const int64_t m = std::min(kPrefillChunk, n - start);
    const int64_t pos = cache.position_;
    LayerStepArgs args;
    args.B = 1;
    args.T = m;
    args.pos_offset = pos;
    args.kv_capacity = cache.capacity_;
    args.rope = &cache.rope_for(cfg.rope, pos + m);
    args.qkv = cache.qkv_;
    float* bufs[2] = {cache.x0_, cache.x1_};
    kernels::embedding_forward(bufs[0], tokens + start, model.params.embedding(), m, C, V);
    for (int64_t l = 0; l < cfg.n_layers; ++l) {
      args.k_cache = cache.k(l);
      args.v_cache = cache.v(l);
      layer_forward(cfg, model.params.layer(l), cache.acts_, bufs[l % 2], bufs[(l + 1) % 2], args);
    }
    x = bufs[cfg.n_layers % 2] + (m - 1) * C;  // last token's residual stream
    cache.position_ += m;
  }
  if (logits != nullptr) {
    kernels::rmsnorm_forward(cache.xf_, cache.rstd_, x, model.params.final_norm(), 1, C, cfg.norm_eps);
    kernels::lm_head_logits(logits, cache.xf_, model.params.lm_head(), 1, C, V);
  }
}

}  // namespace longctx::model
