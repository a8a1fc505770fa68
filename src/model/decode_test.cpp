// The decoding loop against a hand-written loop over forward_tokens + Sampler, and each
// stop rule: stop token, stop string (excluded / included, text deltas adding up, held-back
// prefixes), token limit, full cache, cancellation, callback.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "kernels/testing.h"
#include "model/decode.h"
#include "model/model_test_util.h"

namespace longctx::model {
namespace {

LlamaModel test_model() {
  LlamaModel m(preset_config("test"));
  test::randomize(m.params, 3);
  return m;
}

// The reference loop: prefill, then sample / feed one token at a time.
std::vector<int32_t> manual_loop(const LlamaModel& m, const std::vector<int32_t>& prompt,
                                 int64_t n, const SamplingParams& sp) {
  KVCache cache(m.config, 128);
  std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
  forward_tokens(m, cache, prompt.data(), static_cast<int64_t>(prompt.size()), logits.data());
  Sampler sampler(sp);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t t = sampler.sample(logits.data(), m.config.vocab_size);
    out.push_back(t);
    forward_tokens(m, cache, &t, 1, logits.data());
  }
  return out;
}

// ids -> letters: token t is the character 'a' + t % 26 (enough to test text rules).
std::string letters(std::span<const int32_t> ids) {
  std::string s;
  for (const int32_t t : ids) s += static_cast<char>('a' + t % 26);
  return s;
}

const std::vector<int32_t> kPrompt = {1, 5, 9, 13, 2};

TEST(Decode, GreedyAndSampledMatchTheHandWrittenLoop) {
  const LlamaModel m = test_model();
  for (const float temperature : {0.0f, 1.0f}) {
    DecodeOptions o;
    o.sampling.temperature = temperature;
    o.sampling.seed = 77;
    o.max_new_tokens = 20;
    KVCache cache(m.config, 128);
    std::vector<int32_t> seen;
    const DecodeResult r = decode(m, cache, kPrompt, o, [&](const DecodeEvent& e) {
      EXPECT_EQ(e.index, static_cast<int64_t>(seen.size()));
      seen.push_back(e.token);
      return true;
    });
    EXPECT_EQ(r.tokens, manual_loop(m, kPrompt, 20, o.sampling)) << "temperature " << temperature;
    EXPECT_EQ(seen, r.tokens);
    EXPECT_EQ(r.reason, StopReason::kMaxTokens);
    EXPECT_EQ(r.prompt_tokens, 5);
    // The last sampled token is not fed: the cache holds the prompt and 19 generated tokens.
    EXPECT_EQ(cache.position(), 5 + 19);
  }
}

TEST(Decode, StopTokenIsNotEmitted) {
  const LlamaModel m = test_model();
  SamplingParams greedy;
  greedy.temperature = 0;
  const auto ref = manual_loop(m, kPrompt, 30, greedy);
  // The first position whose token did not occur before it.
  size_t k = 1;
  while (k < ref.size() && std::find(ref.begin(), ref.begin() + k, ref[k]) != ref.begin() + k) ++k;
  ASSERT_LT(k, ref.size()) << "greedy output repeats one token; pick another seed";
  DecodeOptions o;
  o.sampling = greedy;
  o.max_new_tokens = 30;
  o.stop_tokens = {ref[k]};
  KVCache cache(m.config, 128);
  const DecodeResult r = decode(m, cache, kPrompt, o);
  EXPECT_EQ(r.reason, StopReason::kStopToken);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + static_cast<int64_t>(k)));
}

TEST(Decode, StopStringsCutTheTextAndDeltasAddUp) {
  const LlamaModel m = test_model();
  SamplingParams greedy;
  greedy.temperature = 0;
  const auto ref = manual_loop(m, kPrompt, 30, greedy);
  const std::string full = letters(ref);
  // A two-letter stop string first occurring at position 6 or later.
  size_t at = 6;
  while (at + 2 <= full.size() && full.find(full.substr(at, 2)) != at) ++at;
  ASSERT_LT(at + 2, full.size());
  const std::string stop = full.substr(at, 2);
  for (const bool include : {false, true}) {
    DecodeOptions o;
    o.sampling = greedy;
    o.max_new_tokens = 30;
    o.detokenize = letters;
    o.stop_strings = {"never-matches", stop};
    o.include_stop_string = include;
    KVCache cache(m.config, 128);
    std::string streamed;
    const DecodeResult r = decode(m, cache, kPrompt, o, [&](const DecodeEvent& e) {
      streamed += e.text;
      return true;
    });
    EXPECT_EQ(r.reason, StopReason::kStopString);
    EXPECT_EQ(r.tokens.size(), at + 2);  // stops at the token completing the stop string
    EXPECT_EQ(r.text, full.substr(0, include ? at + 2 : at));
    EXPECT_EQ(streamed, r.text);
  }
}

TEST(Decode, PossibleStopPrefixIsHeldBackThenFlushed) {
  const LlamaModel m = test_model();
  SamplingParams greedy;
  greedy.temperature = 0;
  const auto ref = manual_loop(m, kPrompt, 8, greedy);
  const std::string full = letters(ref);
  DecodeOptions o;
  o.sampling = greedy;
  o.max_new_tokens = 8;
  o.detokenize = letters;
  // Its first letter is the last generated letter: the final character stays held back.
  o.stop_strings = {std::string(1, full.back()) + "{"};
  KVCache cache(m.config, 128);
  std::vector<DecodeEvent> events;
  std::vector<std::string> texts;
  const DecodeResult r = decode(m, cache, kPrompt, o, [&](const DecodeEvent& e) {
    events.push_back(e);
    texts.emplace_back(e.text);
    return true;
  });
  ASSERT_EQ(events.size(), 9u);  // 8 tokens + the flush
  EXPECT_TRUE(events.back().flush);
  EXPECT_EQ(events.back().token, -1);
  EXPECT_EQ(texts.back(), std::string(1, full.back()));
  std::string joined;
  for (const auto& t : texts) joined += t;
  EXPECT_EQ(joined, full);
  EXPECT_EQ(r.text, full);
}

TEST(Decode, ContextFullCancelAndCallbackStops) {
  const LlamaModel m = test_model();
  DecodeOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = 50;
  {
    KVCache cache(m.config, 8);  // prompt 5: three more tokens fit, then the cache is full
    const DecodeResult r = decode(m, cache, kPrompt, o);
    EXPECT_EQ(r.reason, StopReason::kContextFull);
    EXPECT_EQ(r.tokens.size(), 4u);  // 3 fed + the one sampled from the full cache
    EXPECT_EQ(cache.position(), 8);
  }
  {
    std::atomic<bool> cancel{false};
    o.cancel = &cancel;
    KVCache cache(m.config, 128);
    const DecodeResult r = decode(m, cache, kPrompt, o, [&](const DecodeEvent& e) {
      if (e.index == 2) cancel = true;
      return true;
    });
    EXPECT_EQ(r.reason, StopReason::kCancelled);
    EXPECT_EQ(r.tokens.size(), 3u);
    o.cancel = nullptr;
  }
  {
    KVCache cache(m.config, 128);
    const DecodeResult r = decode(m, cache, kPrompt, o,
                                  [&](const DecodeEvent& e) { return e.index < 4; });
    EXPECT_EQ(r.reason, StopReason::kCallback);
    EXPECT_EQ(r.tokens.size(), 5u);
  }
}

TEST(Decode, BadOptionsAndPromptsAreErrors) {
  const LlamaModel m = test_model();
  KVCache cache(m.config, 4);
  DecodeOptions o;
  EXPECT_THROW(decode(m, cache, std::vector<int32_t>{}, o), Error);
  EXPECT_THROW(decode(m, cache, kPrompt, o), Error);  // 5 tokens > capacity 4
  o.stop_strings = {"x"};                              // no detokenizer
  EXPECT_THROW(decode(m, cache, std::vector<int32_t>{1}, o), Error);
  o.stop_strings.clear();
  o.max_new_tokens = -1;
  EXPECT_THROW(decode(m, cache, std::vector<int32_t>{1}, o), Error);
  o.max_new_tokens = 1;
  o.sampling.top_p = 0;
  EXPECT_THROW(decode(m, cache, std::vector<int32_t>{1}, o), Error);
}

}  // namespace
}  // namespace longctx::model
