#include "model/llama.h"

#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/embedding.h"
#include "kernels/rmsnorm.h"
#include "model/llama_layer.h"

namespace longctx::model {

void init_weights(LlamaModel& model, uint64_t seed) {
  const double kStd = 0.02;
  const double residual_std = kStd / std::sqrt(2.0 * static_cast<double>(model.config.n_layers));
  uint64_t index = 0;
  model.params.for_each([&](const ParamEntry& e, float* p) {
    const int64_t n = e.shape.numel();
    ++index;
    if (!e.weight_decay) {  // norm weights
      for (int64_t i = 0; i < n; ++i) p[i] = 1.0f;
      return;
    }
    const bool residual_out = e.name.find("o_proj") != std::string::npos ||
                              e.name.find("down_proj") != std::string::npos;
    // One generator per tensor so a tensor's values do not depend on the others' sizes.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + index);
    std::normal_distribution<double> dist(0.0, residual_out ? residual_std : kStd);
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(dist(rng));
  });
}

namespace {

void check_inputs(const LlamaModel& model, const int32_t* tokens, const int32_t* targets,
                  int64_t B, int64_t T) {
  LONGCTX_CHECK(B > 0 && T > 0, "llama: batch %lld and sequence length %lld must be positive",
                static_cast<long long>(B), static_cast<long long>(T));
  LONGCTX_CHECK(tokens != nullptr, "llama: tokens is null");
  LONGCTX_CHECK(model.params.size() > 0 &&
                    static_cast<int64_t>(model.params.size()) == model.config.num_parameters(),
                "llama: parameters (%zu floats) do not match the config (%lld)",
                model.params.size(), static_cast<long long>(model.config.num_parameters()));
  const int64_t V = model.config.vocab_size;
  for (int64_t i = 0; i < B * T; ++i) {
    LONGCTX_CHECK(tokens[i] >= 0 && tokens[i] < V, "llama: token %d at index %lld outside [0, %lld)",
                  tokens[i], static_cast<long long>(i), static_cast<long long>(V));
    if (targets != nullptr) {
      LONGCTX_CHECK(targets[i] == kernels::kIgnoreIndex || (targets[i] >= 0 && targets[i] < V),
                    "llama: target %d at index %lld outside [0, %lld) and not -1", targets[i],
                    static_cast<long long>(i), static_cast<long long>(V));
    }
  }
}

LayerStepArgs training_args(const LlamaModel& model, LayerActivations& a, TrainWorkspace& ws,
                            int64_t B, int64_t T, const kernels::RopeCache& rope,
                            const StepOptions& options) {
  LayerStepArgs args;
  args.B = B;
  args.T = T;
  args.k_cache = a.k;
  args.v_cache = a.v;
  args.kv_capacity = T;
  args.rope = &rope;
  args.segment_ids = options.segment_ids;
  args.positions = options.position_ids;
  args.qkv = ws.qkv;
  args.attention = options.attention;
  return args;
}

// Positions the RoPE table must cover: position_limit, checked against T.
int64_t rope_positions(const StepOptions& options, int64_t T, const char* op) {
  LONGCTX_CHECK(options.position_limit == 0 || options.position_limit >= T,
                "%s: position_limit %lld is below the sequence length %lld", op,
                static_cast<long long>(options.position_limit), static_cast<long long>(T));
  return options.position_limit > 0 ? options.position_limit : T;
}

// Runs embedding and all layers, leaving the final normed states in ws.xf (N, C).
// Forward-only: ping-pongs between two residual buffers.
void forward_only(const LlamaModel& model, const int32_t* tokens, int64_t B, int64_t T,
                  TrainWorkspace& ws, const StepOptions& options) {
  const ModelConfig& cfg = model.config;
  if (!ws.fits_forward(cfg, B, T)) ws.prepare(cfg, B, T, WorkspaceLayout::kForward);
  const int64_t N = B * T, C = cfg.dim;
  const kernels::RopeCache& rope = ws.rope_cache(
      cfg.rope, static_cast<int>(cfg.resolved_head_dim()), rope_positions(options, T, "forward"));
  kernels::embedding_forward(ws.residual[0], tokens, model.params.embedding(), N, C,
                             cfg.vocab_size);
  LayerActivations& a = ws.layers[0];
  const LayerStepArgs args = training_args(model, a, ws, B, T, rope, options);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    layer_forward(cfg, model.params.layer(l), a, ws.residual[static_cast<size_t>(l % 2)],
                  ws.residual[static_cast<size_t>((l + 1) % 2)], args);
  }
  kernels::rmsnorm_forward(ws.xf, ws.rstd_f, ws.residual[static_cast<size_t>(cfg.n_layers % 2)],
                           model.params.final_norm(), N, C, cfg.norm_eps);
}

}  // namespace

kernels::LossSum forward_backward(const LlamaModel& model, ParameterSet& grads,
                                  const int32_t* tokens, const int32_t* targets, int64_t B,
                                  int64_t T, const StepOptions& options, TrainWorkspace& ws) {
  const ModelConfig& cfg = model.config;
  check_inputs(model, tokens, targets, B, T);
  LONGCTX_CHECK(targets != nullptr, "forward_backward: targets is null");
  LONGCTX_CHECK(grads.size() == model.params.size(),
                "forward_backward: gradient set has %zu floats, parameters %zu", grads.size(),
                model.params.size());
  const int64_t N = B * T, C = cfg.dim, V = cfg.vocab_size, L = cfg.n_layers;
  ws.prepare(cfg, B, T,
             options.recompute ? WorkspaceLayout::kRecompute : WorkspaceLayout::kStoreAll);
  const kernels::RopeCache& rope =
      ws.rope_cache(cfg.rope, static_cast<int>(cfg.resolved_head_dim()),
                    rope_positions(options, T, "forward_backward"));
  auto acts = [&](int64_t l) -> LayerActivations& {
    return ws.layers[options.recompute ? 0 : static_cast<size_t>(l)];
  };
  auto res = [&](int64_t l) { return ws.residual[static_cast<size_t>(l)]; };

  // Forward: residual[0] = embedding, residual[l + 1] = output of layer l.
  kernels::embedding_forward(res(0), tokens, model.params.embedding(), N, C, V);
  for (int64_t l = 0; l < L; ++l) {
    const LayerStepArgs args = training_args(model, acts(l), ws, B, T, rope, options);
    layer_forward(cfg, model.params.layer(l), acts(l), res(l), res(l + 1), args);
  }
  kernels::rmsnorm_forward(ws.xf, ws.rstd_f, res(L), model.params.final_norm(), N, C,
                           cfg.norm_eps);

  int64_t n_valid = 0;
  for (int64_t i = 0; i < N; ++i) n_valid += targets[i] != kernels::kIgnoreIndex;
  const int64_t normalizer = options.grad_normalizer > 0 ? options.grad_normalizer : n_valid;
  const float grad_scale = normalizer > 0 ? 1.0f / static_cast<float>(normalizer) : 0.0f;

  // Loss and the backward, in reverse.
  const kernels::LossSum loss = kernels::lm_head_cross_entropy_forward_backward(
      ws.dxf, grads.lm_head(), ws.xf, model.params.lm_head(), targets, N, C, V, grad_scale);
  kernels::rmsnorm_backward(ws.dres, grads.final_norm(), ws.dxf, res(L), model.params.final_norm(),
                            ws.rstd_f, N, C);
  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerWeights w = model.params.layer(l);
    const LayerStepArgs args = training_args(model, acts(l), ws, B, T, rope, options);
    if (options.recompute) layer_forward(cfg, w, acts(l), res(l), nullptr, args);
    layer_backward(cfg, w, grads.layer(l), acts(l), res(l), ws.dres, ws.scratch, ws.qkv, args);
  }
  kernels::embedding_backward(grads.embedding(), ws.dres, tokens, N, C);
  return loss;
}

kernels::LossSum forward_loss(const LlamaModel& model, const int32_t* tokens,
                              const int32_t* targets, int64_t B, int64_t T, TrainWorkspace& ws,
                              float* per_token_losses, const int32_t* segment_ids) {
  StepOptions options;
  options.segment_ids = segment_ids;
  return forward_loss(model, tokens, targets, B, T, options, ws, per_token_losses);
}

kernels::LossSum forward_loss(const LlamaModel& model, const int32_t* tokens,
                              const int32_t* targets, int64_t B, int64_t T,
                              const StepOptions& options, TrainWorkspace& ws,
                              float* per_token_losses) {
  check_inputs(model, tokens, targets, B, T);
  LONGCTX_CHECK(targets != nullptr, "forward_loss: targets is null");
  forward_only(model, tokens, B, T, ws, options);
  const ModelConfig& cfg = model.config;
  return kernels::lm_head_cross_entropy_forward(per_token_losses, ws.xf, model.params.lm_head(),
                                                targets, B * T, cfg.dim, cfg.vocab_size);
}

void forward_logits(const LlamaModel& model, const int32_t* tokens, int64_t B, int64_t T,
                    TrainWorkspace& ws, float* logits) {
  check_inputs(model, tokens, nullptr, B, T);
  forward_only(model, tokens, B, T, ws, StepOptions{});
  const ModelConfig& cfg = model.config;
  kernels::lm_head_logits(logits, ws.xf, model.params.lm_head(), B * T, cfg.dim, cfg.vocab_size);
}

}  // namespace longctx::model
