#include "model/workspace.h"

#include "core/error.h"
#include "model/carver.h"

namespace longctx::model {

namespace {

void carve(Carver& c, const ModelConfig& cfg, int64_t B, int64_t T, WorkspaceLayout layout,
           TrainWorkspace& ws) {
  const int64_t N = B * T, C = cfg.dim, D = cfg.resolved_head_dim(), H = cfg.n_heads,
                Hkv = cfg.n_kv_heads, F = cfg.ffn_dim;
  const int64_t n_acts = layout == WorkspaceLayout::kStoreAll ? cfg.n_layers : 1;
  const int64_t n_res = layout == WorkspaceLayout::kForward ? 2 : cfg.n_layers + 1;
  // The norm outputs and the SwiGLU output are cheap to recompute, so every layer
  // shares one buffer for them (layer_backward recomputes them): per token and
  // layer only 2 + 2*H*D + 2*Hkv*D + C + 2F floats (+ H lse) are kept.
  float* xn = c.take(N * C);
  float* h = c.take(N * F);
  ws.layers.assign(static_cast<size_t>(n_acts), LayerActivations{});
  for (LayerActivations& a : ws.layers) {
    a.rstd1 = c.take(N);
    a.xn1 = xn;
    a.q = c.take(N * H * D);
    a.k = c.take(N * Hkv * D);
    a.v = c.take(N * Hkv * D);
    a.att = c.take(N * H * D);
    a.lse = c.take(B * H * T);
    a.x_mid = c.take(N * C);
    a.rstd2 = c.take(N);
    a.xn2 = xn;
    a.gu = c.take(N * 2 * F);
    a.h = h;
  }
  ws.residual.assign(static_cast<size_t>(n_res), nullptr);
  for (float*& r : ws.residual) r = c.take(N * C);
  ws.qkv = c.take(N * (H + 2 * Hkv) * D);
  ws.xf = c.take(N * C);
  ws.rstd_f = c.take(N);
  ws.scratch = BackwardScratch{};
  ws.dxf = ws.dres = nullptr;
  if (layout != WorkspaceLayout::kForward) {
    ws.scratch.dxn = c.take(N * C);
    ws.scratch.dh = c.take(N * F);
    ws.scratch.dgu = c.take(N * 2 * F);
    ws.scratch.datt = c.take(N * H * D);
    ws.scratch.dq = c.take(N * H * D);
    ws.scratch.dk = c.take(N * Hkv * D);
    ws.scratch.dv = c.take(N * Hkv * D);
    ws.dxf = c.take(N * C);
    ws.dres = c.take(N * C);
  }
}
}  // namespace

bool TrainWorkspace::matches(const ModelConfig& c, int64_t B, int64_t T) const {
  return buffer_.size() > 0 && B == B_ && T == T_ && c.dim == config_.dim &&
         c.n_layers == config_.n_layers && c.n_heads == config_.n_heads &&
         c.n_kv_heads == config_.n_kv_heads && c.ffn_dim == config_.ffn_dim &&
         c.resolved_head_dim() == config_.resolved_head_dim();
}

bool TrainWorkspace::fits_forward(const ModelConfig& config, int64_t B, int64_t T) const {
  return matches(config, B, T);
}

size_t TrainWorkspace::bytes_needed(const ModelConfig& config, int64_t B, int64_t T,
                                    WorkspaceLayout layout) {
  TrainWorkspace scratch;
  Carver count(nullptr);
  carve(count, config, B, T, layout, scratch);
  return count.used() * sizeof(float);
}

void TrainWorkspace::prepare(const ModelConfig& config, int64_t B, int64_t T,
                             WorkspaceLayout layout) {
  LONGCTX_CHECK(B > 0 && T > 0, "TrainWorkspace: batch %lld and sequence length %lld must be positive",
                static_cast<long long>(B), static_cast<long long>(T));
  if (matches(config, B, T) && layout == layout_) return;
  config.validate();
  Carver count(nullptr);
  carve(count, config, B, T, layout, *this);
  buffer_ = Buffer<float>(count.used());
  Carver assign(buffer_.data());
  carve(assign, config, B, T, layout, *this);
  config_ = config;
  B_ = B;
  T_ = T;
  layout_ = layout;
}

bool same_rope_spec(const rope::RopeSpec& a, const rope::RopeSpec& b) {
  return a.kind == b.kind && a.base == b.base && a.params == b.params &&
         a.short_factor == b.short_factor && a.long_factor == b.long_factor &&
         a.partial_rotary == b.partial_rotary;
}

const kernels::RopeCache& TrainWorkspace::rope_cache(const rope::RopeSpec& spec, int head_dim,
                                                     int64_t T) {
  if (!rope_valid_ || rope_cache_.n_positions != T || rope_cache_.head_dim != head_dim ||
      !same_rope_spec(spec, rope_spec_)) {
    rope_valid_ = false;
    rope_cache_ = kernels::rope_cache_build(rope::rope_frequencies(spec, head_dim, T), head_dim, T);
    rope_spec_ = spec;
    rope_valid_ = true;
  }
  return rope_cache_;
}

}  // namespace longctx::model
