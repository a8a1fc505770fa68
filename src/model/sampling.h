// Next-token selection from logits: greedy (argmax, lowest id on ties) and
// temperature / top-k / top-p (nucleus) sampling with a seeded RNG, so a
// generation is reproducible from its seed.
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace longctx::model {

// Index of the largest logit (V); the lowest id wins ties. NaN logits are never chosen
// unless all are NaN (then 0).
int32_t argmax(const float* logits, int64_t V);

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy; logits are divided by it
  float top_p = 1.0f;        // (0, 1]: keep the smallest most-likely set with mass >= top_p
  int64_t top_k = 0;         // 0 = off; else keep the k most likely tokens
  uint64_t seed = 0;
  void validate() const;     // throws Error naming the field
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Draws one token id from logits (V). Deterministic for a given seed and call sequence.
  int32_t sample(const float* logits, int64_t V);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> sorted_;  // (probability, id) scratch
};

}  // namespace longctx::model
