// ROUGE-L against values computed by hand (token lists, LCS, P, R, F written out).
#include <gtest/gtest.h>

#include "eval/rouge.h"

namespace longctx::eval {
namespace {

TEST(Rouge, TokensAreLowerCasedAlphanumericRuns) {
  EXPECT_EQ(rouge_tokens("It's 3.14-ish, OK?"),
            (std::vector<std::string>{"it", "s", "3", "14", "ish", "ok"}));
  EXPECT_TRUE(rouge_tokens(" ,.;! ").empty());
}

TEST(Rouge, HandComputedScores) {
  // the cat sat on the mat / the cat is on the mat: LCS the,cat,on,the,mat = 5 of 6 and 6.
  RougeScore s = rouge_l("The cat sat on the mat.", "The cat is on the mat");
  EXPECT_EQ(s.lcs, 5);
  EXPECT_NEAR(s.precision, 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(s.recall, 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(s.f, 5.0 / 6.0, 1e-12);
  // police killed the gunman (4) / the gunman was shot by police (6): LCS "the gunman" = 2,
  // P = 1/2, R = 1/3, F = 2 (1/6) / (5/6) = 0.4.
  s = rouge_l("Police killed the gunman", "The gunman was shot by police");
  EXPECT_EQ(s.lcs, 2);
  EXPECT_NEAR(s.precision, 0.5, 1e-12);
  EXPECT_NEAR(s.recall, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.f, 0.4, 1e-12);
  // Order matters: a b c d / d c b a has LCS 1: P = R = F = 1/4.
  EXPECT_NEAR(rouge_l("a b c d", "d c b a").f, 0.25, 1e-12);
  // Subsequence, not substring: a x b y c / a b c: LCS 3, P = 3/5, R = 1, F = 0.75.
  EXPECT_NEAR(rouge_l("a x b y c", "a b c").f, 0.75, 1e-12);
  // Case and punctuation do not count.
  EXPECT_NEAR(rouge_l("Hello, WORLD!", "hello world").f, 1.0, 1e-12);
  // Nothing in common, or nothing predicted.
  EXPECT_EQ(rouge_l("alpha beta", "gamma").f, 0.0);
  EXPECT_EQ(rouge_l("", "gamma").f, 0.0);
  EXPECT_EQ(rouge_l("...", "").f, 0.0);
}

TEST(Rouge, LcsOfRepeatedTokens) {
  const std::vector<std::string> a = {"x", "y", "x", "y", "x"}, b = {"y", "x", "y"};
  EXPECT_EQ(lcs_length(a, b), 3);
  EXPECT_EQ(lcs_length(b, a), 3);
  EXPECT_EQ(lcs_length({}, b), 0);
}

}  // namespace
}  // namespace longctx::eval
