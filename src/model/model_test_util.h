// Shared helpers for the model tests (header only; not part of the library).
#pragma once
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

}  // namespace longctx::model::test
