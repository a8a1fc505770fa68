#include "model/sampling.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace longctx::model {

int32_t argmax(const float* logits, int64_t V) {
  int32_t best = 0;
  bool found = false;
  for (int64_t i = 0; i < V; ++i) {
    if (std::isnan(logits[i])) continue;
    if (!found || logits[i] > logits[best]) {  // strict: the lowest id keeps ties
      best = static_cast<int32_t>(i);
      found = true;
    }
  }
  return best;
}

void SamplingParams::validate() const {
  LONGCTX_CHECK(std::isfinite(temperature) && temperature >= 0.0f,
                "sampling temperature: must be >= 0 (0 = greedy), got %g",
                static_cast<double>(temperature));
  LONGCTX_CHECK(top_p > 0.0f && top_p <= 1.0f, "sampling top_p: must be in (0, 1], got %g",
                static_cast<double>(top_p));
  LONGCTX_CHECK(top_k >= 0, "sampling top_k: must be >= 0 (0 = off), got %lld",
                static_cast<long long>(top_k));
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  params.validate();
}

int32_t Sampler::sample(const float* logits, int64_t V) {
  LONGCTX_CHECK(V > 0, "Sampler::sample: empty vocabulary");
  if (params_.temperature == 0.0f) return argmax(logits, V);
  // Softmax at temperature, in double; max-subtracted.
  const int32_t top = argmax(logits, V);
  const double mx = logits[top], inv_t = 1.0 / params_.temperature;
  sorted_.resize(static_cast<size_t>(V));
  double z = 0.0;
  for (int64_t i = 0; i < V; ++i) {
    const double p = std::isnan(logits[i]) ? 0.0 : std::exp((logits[i] - mx) * inv_t);
    sorted_[static_cast<size_t>(i)] = {static_cast<float>(p), static_cast<int32_t>(i)};
    z += p;
  }
  size_t keep = sorted_.size();
  const bool truncate = params_.top_p < 1.0f || (params_.top_k > 0 && params_.top_k < V);
  if (truncate) {
    // Most likely first; ties by lower id so the kept set is well defined.
    std::sort(sorted_.begin(), sorted_.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
    if (params_.top_p < 1.0f) {
      double mass = 0.0;
      size_t i = 0;
      while (i < keep) {
        mass += sorted_[i].first / z;
        ++i;
        if (mass >= params_.top_p) break;
      }
      keep = std::max<size_t>(i, 1);
    }
    z = 0.0;
    for (size_t i = 0; i < keep; ++i) z += sorted_[i].first;
  }
  std::uniform_real_distribution<double> uniform(0.0, z);
  const double u = uniform(rng_);
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += sorted_[i].first;
    if (u < acc) return sorted_[i].second;
  }
  // Rounding left u at the very top: return the last kept token with nonzero mass.
  for (size_t i = keep; i-- > 0;)
    if (sorted_[i].first > 0.0f) return sorted_[i].second;
  return top;
}

}  // namespace longctx::model
