// The position-encoding policy of inference (rope_policy.h) pinned against the training
// forward, for the two length-dependent kinds (dynamic NTK, LongRoPE) with original
// context 16:
// - a prompt prefilled in chunks (and in several calls with rope_length) gives the training
//   forward's logits over the whole prompt;
// - decoding past the original context re-rotates the cached keys: with one layer (whose
//   keys and values depend only on the tokens) every step equals the training forward at
//   that length exactly; layer-0 keys equal those of a fresh prefill;
// - context shift leaves a cache equal to a fresh prefill of the kept tokens (one layer).
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "kernels/testing.h"
#include "model/inference.h"
#include "model/model_test_util.h"
#include "model/rope_policy.h"

namespace longctx::model {
namespace {

using test::kLogitTol;
using test::logit_error;
using test::random_model;
using test::training_logits;

rope::RopeSpec longrope_spec() {
  rope::RopeSpec s;
  s.kind = rope::RopeKind::kLongRope;
  s.params = {{"original", 16.0}, {"factor", 4.0}};
  s.short_factor = {1.0, 1.2, 1.5, 2.0};  // 4 pairs (head_dim 8)
  s.long_factor = {1.0, 2.0, 3.0, 4.0};
  return s;
}

std::vector<std::pair<const char*, rope::RopeSpec>> kinds() {
  return {{"dynamic", rope::parse_rope_spec("dynamic:factor=4,original=16")}, {"longrope", longrope_spec()}};
}

ModelConfig config_with(const rope::RopeSpec& spec, int64_t layers) {
  ModelConfig c = preset_config("test");
  c.rope = spec;
  c.n_layers = layers;
  return c;
}

TEST(RopePolicy, ChunkedPrefillEqualsTrainingForwardOverThePrompt) {
  for (const auto& [name, spec] : kinds()) {
    SCOPED_TRACE(name);
    const LlamaModel model = random_model(config_with(spec, 2), 51);
    const InferenceWeights w = InferenceWeights::view(model);
    const int64_t T = 40, V = model.config.vocab_size;
    const auto tokens = testing::random_ints(T, 52, 0, static_cast<int32_t>(V - 1));
    const std::vector<float> train = training_logits(model, tokens);
    std::vector<float> logits(static_cast<size_t>(V));
    // One call, five rounds of 8 rows.
    InferenceWorkspace ws(model.config, 8);
    KVCache a(model.config, 64);
    forward_tokens(w, a, ws, tokens.data(), T, logits.data());
    EXPECT_LT(logit_error(logits.data(), train.data() + (T - 1) * V, V), kLogitTol);
    // Three calls that all declare the prompt's end (a caller streaming a long prompt).
    KVCache b(model.config, 64);
    const int64_t cuts[] = {0, 10, 27, T};
    for (int i = 0; i < 3; ++i) {
      SequenceStep s;
      s.cache = &b;
      s.tokens = std::span<const int32_t>(tokens.data() + cuts[i], static_cast<size_t>(cuts[i + 1] - cuts[i]));
      s.logits = logits.data();
      s.rope_length = T;
      forward_batch(w, std::span<SequenceStep>(&s, 1), ws);
    }
    EXPECT_LT(logit_error(logits.data(), train.data() + (T - 1) * V, V), kLogitTol);
  }
}

TEST(RopePolicy, DecodePastTheOriginalContextRerotatesCachedKeys) {
  for (const auto& [name, spec] : kinds()) {
    SCOPED_TRACE(name);
    const LlamaModel model = random_model(config_with(spec, 1), 53);
    const InferenceWeights w = InferenceWeights::view(model);
    const int64_t P = 10, T = 30, V = model.config.vocab_size;
    const auto tokens = testing::random_ints(T, 54, 0, static_cast<int32_t>(V - 1));
    // The frequencies really change past the original context (else this test proves nothing).
    EXPECT_FALSE(same_rope_freqs(rope_freqs_for_length(model.config, 16), rope_freqs_for_length(model.config, 17)));
    InferenceWorkspace ws(model.config, 8);
    KVCache cache(model.config, T);
    std::vector<float> logits(static_cast<size_t>(V));
    forward_tokens(w, cache, ws, tokens.data(), P, logits.data());
    double worst = 0;
    for (int64_t l = P + 1; l <= T; ++l) {
      forward_tokens(w, cache, ws, &tokens[l - 1], 1, logits.data());
      const std::vector<float> train = training_logits(model, std::vector<int32_t>(tokens.begin(), tokens.begin() + l));
      worst = std::max(worst, logit_error(logits.data(), train.data() + (l - 1) * V, V));
    }
    EXPECT_LT(worst, kLogitTol) << "one layer: each decode step equals the training forward at its length";
    // The stored layer-0 keys equal those of one fresh prefill of all T tokens.
    KVCache fresh(model.config, T);
    forward_tokens(w, fresh, ws, tokens.data(), T, logits.data());
    const int64_t n = T * model.config.n_kv_heads * model.config.resolved_head_dim();
    const auto* k1 = reinterpret_cast<const float*>(cache.k_rows(0));
    const auto* k2 = reinterpret_cast<const float*>(fresh.k_rows(0));
    double kmax = 0;
    for (int64_t i = 0; i < n; ++i) kmax = std::max(kmax, std::fabs(double(k2[i])));
    EXPECT_LT(testing::max_abs_diff(k1, k2, n), 1e-5 * kmax);
  }
}

TEST(RopePolicy, ContextShiftEqualsPrefillOfTheKeptTokens) {
  const LlamaModel model = random_model(config_with(rope::parse_rope_spec("default"), 1), 55);
  const InferenceWeights w = InferenceWeights::view(model);
  const int64_t T = 24, keep = 4, discard = 9, V = model.config.vocab_size;
  const auto tokens = testing::random_ints(T + 1, 56, 0, static_cast<int32_t>(V - 1));
  InferenceWorkspace ws(model.config, 8);
  std::vector<float> a(static_cast<size_t>(V)), b(static_cast<size_t>(V));
  for (const auto types : {KvTypes{}, KvTypes{kernels::StorageType::kF32, kernels::StorageType::kBF16}}) {
    KVCache cache(model.config, T, types);
    forward_tokens(w, cache, ws, tokens.data(), T, a.data());
    shift_context(cache, keep, discard);
    EXPECT_EQ(cache.position(), T - discard);
    forward_tokens(w, cache, ws, &tokens[T], 1, a.data());
    std::vector<int32_t> kept(tokens.begin(), tokens.begin() + keep);
    kept.insert(kept.end(), tokens.begin() + keep + discard, tokens.end());
    KVCache fresh(model.config, T, types);
    forward_tokens(w, fresh, ws, kept.data(), static_cast<int64_t>(kept.size()), b.data());
    EXPECT_LT(logit_error(a.data(), b.data(), V), kLogitTol) << format_kv_types(types);
  }
  KVCache small(model.config, 8);
  forward_tokens(w, small, ws, tokens.data(), 4, a.data());
  EXPECT_THROW(shift_context(small, 2, 3), Error);  // more than is cached
  ModelConfig xpos = model.config;
  xpos.rope = rope::parse_rope_spec("xpos");
  const LlamaModel xm = random_model(xpos, 57);
  KVCache xc(xm.config, 8);
  forward_tokens(xm, xc, tokens.data(), 6, a.data());
  EXPECT_THROW(shift_context(xc, 1, 2), Error);
}

}  // namespace
}  // namespace longctx::model
