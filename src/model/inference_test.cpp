// KV-cache inference against the training forward: the logits of every prefix,
// decoded token by token or prefilled at once (also across prefill chunks),
// equal the training forward's logits at that position; and a per-RoPE-kind
// smoke test of forward+backward (against the double reference) and inference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/testing.h"
#include "model/inference.h"
#include "model/llama.h"
#include "model/model_test_util.h"
#include "model/reference_model.h"

namespace longctx::model {
namespace {

using test::kLogitTol;
using test::logit_error;
using test::random_model;
using test::training_logits;

TEST(Inference, DecodeAndPrefillMatchTrainingForward) {
  const LlamaModel model = random_model(preset_config("test"), 21);
  const int64_t T = 40, V = model.config.vocab_size;
  const auto tokens = testing::random_ints(T, 22, 0, static_cast<int32_t>(V - 1));
  const std::vector<float> train = training_logits(model, tokens);
  std::vector<float> logits(static_cast<size_t>(V));

  KVCache decode(model.config, 64);
  double worst = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    forward_tokens(model, decode, &tokens[static_cast<size_t>(t)], 1, logits.data());
    worst = std::max(worst, logit_error(logits.data(), train.data() + t * V, V));
  }
  EXPECT_EQ(decode.position(), T);
  EXPECT_LT(worst, kLogitTol) << "token-by-token decode";

  KVCache prefill(model.config, 64);
  forward_tokens(model, prefill, tokens.data(), 13, logits.data());  // prefill, then more prefill
  EXPECT_LT(logit_error(logits.data(), train.data() + 12 * V, V), kLogitTol);
  forward_tokens(model, prefill, tokens.data() + 13, T - 13, logits.data());
  EXPECT_LT(logit_error(logits.data(), train.data() + (T - 1) * V, V), kLogitTol);
  std::printf("  decode worst relative logit error %.2e (tol %.0e)\n", worst, kLogitTol);

  // Rewind: truncating and feeding the same token again reproduces the logits.
  std::vector<float> again(static_cast<size_t>(V));
  prefill.truncate(T - 1);
  forward_tokens(model, prefill, &tokens[static_cast<size_t>(T - 1)], 1, again.data());
  EXPECT_LT(logit_error(again.data(), train.data() + (T - 1) * V, V), kLogitTol);
}

TEST(Inference, FloatLogitsMatchDoubleReference) {
  const LlamaModel model = random_model(test::tiny_check_config(2, /*tied=*/true), 23);
  const int64_t T = 11, V = model.config.vocab_size;
  const auto tokens = testing::random_ints(T, 24, 0, static_cast<int32_t>(V - 1));
  const std::vector<float> train = training_logits(model, tokens);
  const ReferenceResult ref =
      reference_forward(model.config, to_double(model.params), tokens.data(), nullptr, 1, T, {.logits = true});
  EXPECT_LT(testing::max_rel_error(train, ref.logits), 1e-5);  // float vs double, relative L2
}

TEST(Inference, LongPrefillCrossesChunks) {
  const LlamaModel model = random_model(preset_config("test"), 25);
  const int64_t T = kPrefillChunk + 77, V = model.config.vocab_size;
  const auto tokens = testing::random_ints(T + 2, 26, 0, static_cast<int32_t>(V - 1));
  const std::vector<int32_t> prompt(tokens.begin(), tokens.begin() + T);
  const std::vector<float> train = training_logits(model, tokens);
  KVCache cache(model.config, T + 2);
  std::vector<float> logits(static_cast<size_t>(V));
  forward_tokens(model, cache, prompt.data(), T, logits.data());
  EXPECT_LT(logit_error(logits.data(), train.data() + (T - 1) * V, V), kLogitTol);
  for (int64_t t = T; t < T + 2; ++t) {
    forward_tokens(model, cache, &tokens[static_cast<size_t>(t)], 1, logits.data());
    EXPECT_LT(logit_error(logits.data(), train.data() + t * V, V), kLogitTol) << "decode at " << t;
  }
  EXPECT_THROW(forward_tokens(model, cache, tokens.data(), 1, logits.data()), Error);  // full
}

// RoPE tables at inference are windows over the positions being computed (a prefill chunk,
// or kRopeWindow = 512 positions from a decode step): decoding from inside one window into
// the next matches the training forward, whose table starts at 0.
TEST(Inference, DecodeAcrossRopeWindowsMatchesTrainingForward) {
  const LlamaModel model = random_model(preset_config("test"), 29);
  const int64_t T = 520, P = 505, V = model.config.vocab_size;
  const auto tokens = testing::random_ints(T, 30, 0, static_cast<int32_t>(V - 1));
  const std::vector<float> train = training_logits(model, tokens);
  KVCache cache(model.config, T);
  std::vector<float> logits(static_cast<size_t>(V));
  forward_tokens(model, cache, tokens.data(), P, logits.data());
  EXPECT_LT(logit_error(logits.data(), train.data() + (P - 1) * V, V), kLogitTol);
  for (int64_t t = P; t < T; ++t) {  // positions 505 .. 519 cross 512
    forward_tokens(model, cache, &tokens[static_cast<size_t>(t)], 1, logits.data());
    EXPECT_LT(logit_error(logits.data(), train.data() + t * V, V), kLogitTol) << "decode at " << t;
  }
}

TEST(Inference, BadInputsThrow) {
  const LlamaModel model = random_model(preset_config("test"), 27);
  KVCache cache(model.config, 8);
  std::vector<float> logits(static_cast<size_t>(model.config.vocab_size));
  const int32_t bad = static_cast<int32_t>(model.config.vocab_size);
  EXPECT_THROW(forward_tokens(model, cache, &bad, 1, logits.data()), Error);
  EXPECT_EQ(cache.position(), 0);
  std::vector<int32_t> many(9, 1);
  EXPECT_THROW(forward_tokens(model, cache, many.data(), 9, logits.data()), Error);
  EXPECT_THROW(cache.truncate(1), Error);
  ModelConfig other = model.config;
  other.n_layers = 3;
  KVCache wrong(other, 8);
  EXPECT_THROW(forward_tokens(model, wrong, many.data(), 1, logits.data()), Error);
}

// ---- Every RoPE kind: training gradients vs the double reference, and inference vs training.

struct RopeCase {
  const char* name;
  rope::RopeSpec spec;
  bool decode_matches;  // frequencies do not depend on length at T (so growing decode agrees)
};

std::vector<RopeCase> rope_cases() {
  std::vector<RopeCase> cases;
  auto add = [&](const char* name, const char* text, bool decode = true) {
    cases.push_back({name, rope::parse_rope_spec(text), decode});
  };
  // The smoke sequence is 24 tokens; "original" = 16 makes the scaled kinds act.
  add("default", "default");
  add("abf", "abf:base=500000");
  add("linear", "linear:factor=4");
  add("ntk", "ntk:factor=4");
  add("dynamic", "dynamic:factor=4,original=16", /*decode=*/false);  // rescales past 16 tokens
  add("yarn", "yarn:factor=4,original=16");
  add("llama3", "llama3:factor=4,original=16");
  add("xpos", "xpos");
  add("truncation", "truncation:wavelength=12");
  rope::RopeSpec longrope;
  longrope.kind = rope::RopeKind::kLongRope;
  longrope.params = {{"original", 16.0}, {"factor", 4.0}};
  longrope.short_factor = {1.0, 1.2, 1.5, 2.0};  // 4 pairs (head_dim 8)
  longrope.long_factor = {1.0, 2.0, 3.0, 4.0};
  cases.push_back({"longrope", longrope, false});  // switches lists past 16 tokens
  return cases;
}

class RopeKindSmoke : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeKindSmoke, TrainsAndInfersConsistently) {
  ModelConfig cfg = preset_config("test");  // head_dim 8, GQA 4:2
  cfg.rope = GetParam().spec;
  const LlamaModel model = random_model(cfg, 31);
  const int64_t T = 24, V = cfg.vocab_size;
  const auto tokens = testing::random_ints(T, 32, 0, static_cast<int32_t>(V - 1));
  const auto targets = test::shifted_targets(tokens, 1, T);

  ParameterSet grads(cfg);
  TrainWorkspace ws;
  const kernels::LossSum ls = forward_backward(model, grads, tokens.data(), targets.data(), 1, T, {}, ws);
  ASSERT_TRUE(std::isfinite(ls.loss_sum));
  const ReferenceResult ref =
      reference_forward(cfg, to_double(model.params), tokens.data(), targets.data(), 1, T, {.grads = true});
  EXPECT_NEAR(ls.loss_sum, ref.loss_sum, 1e-5 * ref.loss_sum);
  EXPECT_LT(testing::max_rel_error(grads.data(), ref.grads.data(), static_cast<int64_t>(grads.size())), 1e-4);

  const std::vector<float> train = training_logits(model, tokens);
  std::vector<float> logits(static_cast<size_t>(V));
  KVCache prefill(cfg, T);
  forward_tokens(model, prefill, tokens.data(), T, logits.data());
  EXPECT_LT(logit_error(logits.data(), train.data() + (T - 1) * V, V), kLogitTol) << "prefill";
  if (GetParam().decode_matches) {
    KVCache decode(cfg, 2 * T);  // a larger capacity also moves xPos's centre: must not matter
    double worst = 0.0;
    for (int64_t t = 0; t < T; ++t) {
      forward_tokens(model, decode, &tokens[static_cast<size_t>(t)], 1, logits.data());
      worst = std::max(worst, logit_error(logits.data(), train.data() + t * V, V));
    }
    EXPECT_LT(worst, kLogitTol) << "decode";
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, RopeKindSmoke, ::testing::ValuesIn(rope_cases()),
                         [](const ::testing::TestParamInfo<RopeCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace longctx::model
