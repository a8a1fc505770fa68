// Synthetic long-context tasks: exact token lengths, answers present, seeded.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/tasks.h"
#include "data/test_support.h"
#include "io/tokenizer.h"

namespace longctx::data {
namespace {

int64_t bos_tokens(const io::Tokenizer& tok, const std::string& s) {
  return static_cast<int64_t>(tok.encode(s, true).size());
}

TEST(Tasks, PasskeyIsExactInTokensAndSeeded) {
  const auto& tok = testing::test_tokenizer();
  for (int64_t target : {256, 1000, 4096}) {
    for (uint64_t seed : {1, 2, 3}) {
      PasskeyOptions o;
      o.target_tokens = target;
      o.seed = seed;
      const TaskExample ex = make_passkey(tok, o);
      EXPECT_EQ(ex.tokens, target);
      EXPECT_EQ(bos_tokens(tok, ex.prompt), target) << "seed " << seed;
      const int key = std::stoi(ex.answer);
      EXPECT_GE(key, 1);
      EXPECT_LE(key, 50000);
      EXPECT_NE(ex.prompt.find("The pass key is " + ex.answer + "."), std::string::npos);
      EXPECT_NE(ex.prompt.find(kPasskeyFiller), std::string::npos);
      EXPECT_EQ(ex.prompt.rfind(kPasskeyQuestion), ex.prompt.size() - std::strlen(kPasskeyQuestion));
      EXPECT_EQ(make_passkey(tok, o).prompt, ex.prompt);  // seeded
    }
  }
  PasskeyOptions a, b;
  a.target_tokens = b.target_tokens = 512;
  a.seed = 10;
  b.seed = 11;
  EXPECT_NE(make_passkey(tok, a).answer + make_passkey(tok, a).prompt,
            make_passkey(tok, b).answer + make_passkey(tok, b).prompt);
  // A given depth puts the key there (the cut snaps to a sentence start, within a sentence).
  for (double depth : {0.0, 0.5, 1.0}) {
    PasskeyOptions o;
    o.target_tokens = 2000;
    o.depth = depth;
    const TaskExample ex = make_passkey(tok, o);
    EXPECT_NEAR(ex.depth, depth, 0.02);
    const double where = static_cast<double>(ex.prompt.find("The pass key is")) / ex.prompt.size();
    EXPECT_NEAR(where, depth, 0.05);
  }
  PasskeyOptions tiny;
  tiny.target_tokens = 10;  // shorter than the template
  EXPECT_THROW(make_passkey(tok, tiny), Error);
}

TEST(Tasks, NeedleIsExactInTokensWithQuestionAndAnswer) {
  const auto& tok = testing::test_tokenizer();
  const std::string hay = testing::synthetic_text(77, 30000);
  for (int64_t target : {300, 2048, 6000}) {
    NeedleOptions o;
    o.target_tokens = target;
    o.depth = 0.25;
    o.seed = static_cast<uint64_t>(target);
    const TaskExample ex = make_needle(tok, hay, o);
    EXPECT_EQ(bos_tokens(tok, ex.prompt), target);
    EXPECT_EQ(ex.answer.size(), 7u);
    const size_t at = ex.prompt.find("The special magic number for ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_NE(ex.prompt.find(ex.answer + "."), std::string::npos);
    // The needle snaps back to a sentence start (~100 bytes) and the question follows the text.
    EXPECT_NEAR(static_cast<double>(at) / ex.prompt.size(), 0.25,
                std::max(0.03, 250.0 / static_cast<double>(ex.prompt.size())));
  }
  NeedleOptions custom;
  custom.target_tokens = 800;
  custom.needle = "The best thing to do in San Francisco is eat a sandwich in Dolores Park.";
  custom.question = "What is the best thing to do in San Francisco?";
  custom.answer = "eat a sandwich in Dolores Park";
  const TaskExample ex = make_needle(tok, hay, custom);
  EXPECT_EQ(bos_tokens(tok, ex.prompt), 800);
  EXPECT_NE(ex.prompt.find(custom.needle), std::string::npos);
  custom.answer.clear();
  EXPECT_THROW(make_needle(tok, hay, custom), Error);
}

TEST(Tasks, FirstSentenceRetrieval) {
  const auto& tok = testing::test_tokenizer();
  EXPECT_EQ(first_sentence("\n  The cat  sat\non the mat. Then it left."), "The cat sat on the mat.");
  EXPECT_EQ(first_sentence("No end here"), "No end here");
  EXPECT_EQ(first_sentence("Version 1.5 is out! Yes."), "Version 1.5 is out!");
  EXPECT_EQ(first_sentence(".. note:: Read this. Then that."), ".. note:: Read this.");
  const std::string doc = testing::synthetic_text(5, 40000);
  for (int64_t target : {200, 3000}) {
    FirstSentenceOptions o;
    o.target_tokens = target;
    const TaskExample ex = make_first_sentence(tok, doc, o);
    EXPECT_EQ(bos_tokens(tok, ex.prompt), target);
    EXPECT_EQ(ex.answer, first_sentence(doc));
    EXPECT_EQ(ex.prompt.compare(0, ex.answer.size(), ex.answer), 0);
    EXPECT_NE(ex.prompt.find("first sentence"), std::string::npos);
  }
  FirstSentenceOptions too_long;
  too_long.target_tokens = 100000;
  EXPECT_THROW(make_first_sentence(tok, doc, too_long), Error);
}

TEST(Tasks, ExactWithTheStoriesTokenizer) {
  const std::string model = std::string(LONGCTX_SHARED_DATA) + "/models/stories260K-tok512.model";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "shared data absent: " << model;
  const auto tok = io::Tokenizer::from_file(model);
  for (int64_t target : {512, 2048}) {
    PasskeyOptions o;
    o.target_tokens = target;
    EXPECT_EQ(bos_tokens(tok, make_passkey(tok, o).prompt), target);
  }
}

}  // namespace
}  // namespace longctx::data
