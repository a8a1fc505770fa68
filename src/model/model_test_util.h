// Shared helpers for the model tests (header only; not part of the library).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/testing.h"
#include "model/llama.h"

namespace longctx::model::test {

// A tiny config for whole-model checks: C=16, 2 layers, H=4, D=4, F=24, V=32.
inline ModelConfig tiny_check_config(int64_t n_kv_heads, bool tied) {
  ModelConfig c;
  c.dim = 16, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = n_kv_heads, c.ffn_dim = 24,
  c.vocab_size = 32, c.max_seq_len = 64, c.tied_embeddings = tied;
  c.norm_eps = 1e-5f;
  return c;
}

// Weights large enough that every nonlinearity matters (unlike init_weights' 0.02):
// matrices N(0, 0.5 / sqrt(fan_in)) * 2, norm weights 1 + N(0, 0.1).
inline void randomize(ParameterSet& p, uint64_t seed) {
  uint64_t i = 0;
  p.for_each([&](const ParamEntry& e, float* x) {
    const int64_t n = e.shape.numel();
    if (e.weight_decay) {
      const double fan_in = static_cast<double>(e.shape[e.shape.ndim - 1]);
      testing::fill_normal(x, n, seed + 101 * ++i, 1.0 / std::sqrt(fan_in));
    } else {
      testing::fill_normal(x, n, seed + 101 * ++i, 0.1, 1.0);
    }
  });
}

// Targets = tokens shifted left; the last position of each sequence and every
// `ignore_every`-th position are ignored (-1).
inline std::vector<int32_t> shifted_targets(const std::vector<int32_t>& tokens, int64_t B, int64_t T,
                                            int64_t ignore_every = 0) {
  std::vector<int32_t> t(tokens.size(), kernels::kIgnoreIndex);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i + 1 < T; ++i)
      if (ignore_every == 0 || (b * T + i) % ignore_every != ignore_every - 1)
        t[static_cast<size_t>(b * T + i)] = tokens[static_cast<size_t>(b * T + i + 1)];
  return t;
}

// Logit agreement between two float paths that differ only in summation order
// (different BLAS shapes, attention tiling): max abs difference <= 1e-4 * max |logit|.
constexpr double kLogitTol = 1e-4;

inline double logit_error(const float* a, const float* b, int64_t V) {
  double scale = 0.0;
  for (int64_t i = 0; i < V; ++i) scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  return testing::max_abs_diff(a, b, V) / std::max(scale, 1e-30);
}

// The training forward's logits (T, V) for one sequence (frequencies of length T).
inline std::vector<float> training_logits(const LlamaModel& model, const std::vector<int32_t>& tokens) {
  const int64_t T = static_cast<int64_t>(tokens.size()), V = model.config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(T * V));
  TrainWorkspace ws;
  forward_logits(model, tokens.data(), 1, T, ws, logits.data());
  return logits;
}

inline LlamaModel random_model(ModelConfig cfg, uint64_t seed) {
  LlamaModel model(cfg);
  randomize(model.params, seed);
  return model;
}

}  // namespace longctx::model::test
