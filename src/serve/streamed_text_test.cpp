// The decoding loop's streamed text with a real SentencePiece tokenizer (LLaMA 2's, with byte
// fallback): whatever the token sequence, the text that streams out piece by piece and the
// final text equal one decoding of all generated tokens, while each step decodes only a
// window of the last tokens (model/decode.cpp, TextTracker).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/stories_fixture.h"
#include "io/tokenizer.h"
#include "model/decode.h"

namespace longctx::serve {
namespace {

// Runs SequenceDecoder over `ids` (each forced by one-hot logits); returns the streamed text,
// and the result through `result`.
std::string stream(const io::Tokenizer& tok, const std::vector<int32_t>& ids,
                   const std::vector<std::string>& stops, model::DecodeResult* result,
                   int* detokenized_tokens) {
  model::DecodeOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = static_cast<int64_t>(ids.size());
  o.stop_strings = stops;
  o.detokenize = [&](std::span<const int32_t> t) {
    *detokenized_tokens += static_cast<int>(t.size());
    return tok.decode({t.begin(), t.end()});
  };
  std::string streamed;
  const int64_t V = tok.vocab_size();
  model::SequenceDecoder dec(o, V, [&](const model::DecodeEvent& e) {
    streamed += e.text;
    return true;
  });
  std::vector<float> logits(static_cast<size_t>(V));
  for (int32_t id : ids) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    logits[static_cast<size_t>(id)] = 1.0f;
    if (dec.step(logits.data(), false) < 0) break;
  }
  *result = dec.finish();
  return streamed;
}

TEST(StreamedText, EqualsOneDecodingOfAllTokensWithRealTokenizer) {
  const std::string path = test_fixtures::kData + "/models/llama2-tokenizer.model";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no ../shared/data (" << path << ")";
  const io::Tokenizer tok = io::Tokenizer::from_file(path);
  // Text with spaces at piece starts, newlines, and multi-byte characters that the LLaMA 2
  // vocabulary spells with byte-fallback tokens (<0xE2> ...), so sequences split across steps.
  const std::string text =
      "Once upon a time, naïve café owners in Zürich wrote 日本語 and emoji 🦙🎉 —\n\n  "
      "indented lines, tabs\tand “quotes”. The end.";
  std::vector<std::vector<int32_t>> cases = {tok.encode(text, false)};
  // Random ids too, byte tokens (3..258) often among them, so unfinished UTF-8 sequences
  // occur anywhere, including at the very start and the very end.
  std::mt19937 rng(7);
  for (int c = 0; c < 20; ++c) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 40; ++i)
      ids.push_back(rng() % 2 ? static_cast<int32_t>(3 + rng() % 256)
                              : static_cast<int32_t>(259 + rng() % (tok.vocab_size() - 259)));
    cases.push_back(ids);
  }
  for (const auto& ids : cases) {
    model::DecodeResult r;
    int decoded = 0;
    const std::string streamed = stream(tok, ids, {}, &r, &decoded);
    const std::string whole = tok.decode(ids);
    EXPECT_EQ(r.text, whole);
    EXPECT_EQ(streamed, whole);
  }
}

TEST(StreamedText, StepCostDoesNotGrowWithTheOutput) {
  const std::string path = test_fixtures::kData + "/models/llama2-tokenizer.model";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no ../shared/data (" << path << ")";
  const io::Tokenizer tok = io::Tokenizer::from_file(path);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "The grass is green. The sky is blue. ";
  const std::vector<int32_t> ids = tok.encode(text, false);
  ASSERT_GT(ids.size(), 1500u);
  model::DecodeResult r;
  int decoded = 0;
  const std::string streamed = stream(tok, ids, {"never occurs"}, &r, &decoded);
  EXPECT_EQ(r.text, tok.decode(ids));
  EXPECT_EQ(streamed, r.text);
  // Two small windows per step (re-decoding everything would be ids^2 / 2 ~ 1e6 tokens).
  EXPECT_LT(decoded, 8 * static_cast<int>(ids.size())) << "tokens passed to the detokenizer";
}

TEST(StreamedText, StopStringAcrossStepsCutsTheText) {
  const std::string path = test_fixtures::kData + "/models/llama2-tokenizer.model";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no ../shared/data (" << path << ")";
  const io::Tokenizer tok = io::Tokenizer::from_file(path);
  const std::vector<int32_t> ids = tok.encode("Alpha beta gamma. STOP HERE please, delta epsilon.", false);
  model::DecodeResult r;
  int decoded = 0;
  const std::string streamed = stream(tok, ids, {"P HERE"}, &r, &decoded);
  EXPECT_EQ(r.reason, model::StopReason::kStopString);
  EXPECT_EQ(r.text, "Alpha beta gamma. STO");
  EXPECT_EQ(streamed, r.text);
  EXPECT_LT(r.tokens.size(), ids.size());
}

}  // namespace
}  // namespace longctx::serve
