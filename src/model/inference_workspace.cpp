#include "model/inference_workspace.h"

#include <omp.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "model/carver.h"

namespace longctx::model {

namespace {

constexpr int64_t kRopeWindow = 512;  // positions a RoPE table spans at least

void carve(Carver& c, const ModelConfig& cfg, int64_t R, InferenceWorkspace& ws) {
  const int64_t C = cfg.dim, D = cfg.resolved_head_dim(), QD = cfg.n_heads * D,
                KD = cfg.n_kv_heads * D, F = cfg.ffn_dim;
  ws.x = c.take(R * C);
  ws.xn = c.take(R * C);
  ws.rstd = c.take(R);
  // The attention's temporaries (qkv .. att) are dead once the output projection has read
  // att, and the FFN's h lives only from the SwiGLU to the down projection: one region
  // holds both (4.2 MB less at 512 rows of the small model).
  const auto attention_part = [&](Carver& a) {
    ws.qkv = a.take(R * (QD + 2 * KD));
    ws.q = a.take(R * QD);
    ws.k_new = a.take(R * KD);
    ws.v_new = a.take(R * KD);
    ws.att = a.take(R * QD);
  };
  Carver count(nullptr);
  attention_part(count);
  float* shared = c.take(std::max(static_cast<int64_t>(count.used()), R * F));
  Carver assign(shared);  // null in the counting pass: every pointer stays null
  attention_part(assign);
  ws.h = shared;
  ws.gu = c.take(R * 2 * F);
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

size_t InferenceWorkspace::attention_pack_bytes_for(const ModelConfig& config, int64_t chunk_rows,
                                                    int64_t rows) {
  kernels::AttentionShape shape;
  shape.T_q = chunk_rows;
  shape.T_kv = rows;
  shape.n_heads = static_cast<int>(config.n_heads);
  shape.n_kv_heads = static_cast<int>(config.n_kv_heads);
  shape.head_dim = static_cast<int>(config.resolved_head_dim());
  // As attend() sets it.
  shape.bf16_products = kernels::matmul_precision() == kernels::MatmulPrecision::kBf16;
  return kernels::attention_forward_cached_scratch_bytes(shape, omp_get_max_threads());
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

void InferenceWorkspace::begin_round() {
  // Tables no sequence used during the last round are stale (their sequences moved on, or a
  // dynamic encoding's frequencies changed); the others stay, and so do those looked up
  // from now on until the next call.
  std::erase_if(tables_, [&](const Table& t) { return t.last_use < last_round_start_; });
  last_round_start_ = round_start_;
  round_start_ = ++clock_;
}

const kernels::RopeCache& InferenceWorkspace::rope_table(const kernels::RopeFreqs& freqs,
                                                         int head_dim, int64_t first, int64_t n,
                                                         bool exact) {
  LONGCTX_CHECK(!exact || first == 0, "rope_table: an exact (xPos) table starts at position 0, got %lld",
                static_cast<long long>(first));
  ++clock_;
  for (Table& t : tables_) {
    if (t.cache.head_dim != head_dim || !same_freqs(t.freqs, freqs)) continue;
    const int64_t lo = t.cache.first_position, hi = lo + t.cache.n_positions;
    if (exact ? lo == 0 && t.cache.n_positions == n : lo <= first && first + n <= hi) {
      t.last_use = clock_;
      return t.cache;
    }
  }
  // A window reaching kRopeWindow positions ahead, so that decoding rebuilds it once every
  // kRopeWindow tokens. Nothing is evicted here (a list: earlier references stay valid).
  const int64_t size = exact ? n : std::max(n, kRopeWindow);
  tables_.push_back(Table{freqs, kernels::rope_cache_build(freqs, head_dim, size, exact ? 0 : first), clock_});
  return tables_.back().cache;
}

size_t InferenceWorkspace::rope_bytes_for(const ModelConfig& config, int64_t context, int64_t max_rows,
                                          int64_t sequences, bool exact) {
  const size_t pairs = static_cast<size_t>(config.resolved_head_dim() / 2);
  if (exact) return static_cast<size_t>(context) * pairs * 4 * sizeof(float);  // cos, sin, 2 scales
  // Each sequence's window of this round and, at most, of the last one (begin_round).
  const size_t tables = 2 * static_cast<size_t>(sequences);
  return tables * static_cast<size_t>(std::max(max_rows, kRopeWindow)) * pairs * 2 * sizeof(float);
}

}  // namespace longctx::model
