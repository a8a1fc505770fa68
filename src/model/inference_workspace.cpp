#include "model/inference_workspace.h"

#include <algorithm>

#include "core/error.h"
#include "model/carver.h"

namespace longctx::model {

namespace {

constexpr size_t kMaxTables = 4;  // distinct frequency sets kept (dynamic kinds, xPos sizes)

void carve(Carver& c, const ModelConfig& cfg, int64_t R, InferenceWorkspace& ws) {
  const int64_t C = cfg.dim, D = cfg.resolved_head_dim(), QD = cfg.n_heads * D,
                KD = cfg.n_kv_heads * D, F = cfg.ffn_dim;
  ws.x = c.take(R * C);
  ws.xn = c.take(R * C);
  ws.rstd = c.take(R);
  ws.qkv = c.take(R * (QD + 2 * KD));
  ws.q = c.take(R * QD);
  ws.k_new = c.take(R * KD);
  ws.v_new = c.take(R * KD);
  ws.att = c.take(R * QD);
  ws.gu = c.take(R * 2 * F);
  ws.h = c.take(R * F);
}

bool same_freqs(const kernels::RopeFreqs& a, const kernels::RopeFreqs& b) {
  return a.theta == b.theta && a.attention_factor == b.attention_factor &&
         a.xpos_zeta == b.xpos_zeta && a.xpos_scale_base == b.xpos_scale_base;
}

}  // namespace

size_t InferenceWorkspace::bytes_for(const ModelConfig& config, int64_t max_rows) {
  InferenceWorkspace dummy;
  Carver count(nullptr);
  carve(count, config, max_rows, dummy);
  return count.used() * sizeof(float);
}

size_t InferenceWorkspace::attention_pack_bytes_for(const ModelConfig& config, int64_t rows) {
  // 2 x (key tiles of 128 rows) x head_dim rounded up to the widest vector (16 floats).
  const int64_t tiles = (rows + 127) / 128, Dp = (config.resolved_head_dim() + 15) / 16 * 16;
  return 2 * static_cast<size_t>(tiles * 128 * Dp) * sizeof(float);
}

void InferenceWorkspace::prepare(const ModelConfig& config, int64_t max_rows) {
  config.validate();
  LONGCTX_CHECK(max_rows > 0, "InferenceWorkspace: max_rows must be positive, got %lld",
                static_cast<long long>(max_rows));
  const bool same_shape = config.dim == config_.dim && config.n_heads == config_.n_heads &&
                          config.n_kv_heads == config_.n_kv_heads &&
                          config.resolved_head_dim() == config_.resolved_head_dim() &&
                          config.ffn_dim == config_.ffn_dim;
  if (same_shape && max_rows <= max_rows_) return;
  Carver count(nullptr);
  carve(count, config, max_rows, *this);
  buffer_ = Buffer<float>(count.used());
  Carver assign(buffer_.data());
  carve(assign, config, max_rows, *this);
  config_ = config;
  max_rows_ = max_rows;
  if (!same_shape) tables_.clear();
}

size_t InferenceWorkspace::bytes() const {
  size_t b = buffer_.size() * sizeof(float);
  for (const Table& t : tables_)
    b += (t.cache.cos.size() + t.cache.sin.size() + t.cache.q_scale.size() + t.cache.k_scale.size()) *
         sizeof(float);
  return b;
}

const kernels::RopeCache& InferenceWorkspace::rope_table(const kernels::RopeFreqs& freqs,
                                                         int head_dim, int64_t n, bool exact) {
  ++clock_;
  for (Table& t : tables_) {
    if (t.cache.head_dim != head_dim || !same_freqs(t.freqs, freqs)) continue;
    if (exact ? t.cache.n_positions == n : t.cache.n_positions >= n) {
      t.last_use = clock_;
      return t.cache;
    }
  }
  // Grow geometrically, so a decoding sequence does not rebuild its table every token.
  int64_t size = n;
  if (!exact)
    for (const Table& t : tables_)
      if (t.cache.head_dim == head_dim && same_freqs(t.freqs, freqs)) size = std::max(n, 2 * t.cache.n_positions);
  Table fresh{freqs, kernels::rope_cache_build(freqs, head_dim, size), clock_};
  // Replace a table of the same frequencies (a smaller one), else the least recently used.
  auto victim = std::find_if(tables_.begin(), tables_.end(), [&](const Table& t) {
    return !exact && t.cache.head_dim == head_dim && same_freqs(t.freqs, freqs);
  });
  if (victim == tables_.end() && tables_.size() >= kMaxTables)
    victim = std::min_element(tables_.begin(), tables_.end(),
                              [](const Table& a, const Table& b) { return a.last_use < b.last_use; });
  if (victim == tables_.end()) {
    tables_.push_back(std::move(fresh));
    return tables_.back().cache;
  }
  *victim = std::move(fresh);
  return victim->cache;
}

}  // namespace longctx::model
