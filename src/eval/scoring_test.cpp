// The chunking rules of ppl_rules.h, each checked against losses computed independently with
// the training forward (model::forward_loss) on the exact inputs the rule prescribes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cross_entropy.h"
#include "kernels/testing.h"
#include "eval/scoring.h"
#include "model/model_test_util.h"

namespace longctx::eval {
namespace {

constexpr double kTol = 2e-5;  // float paths differing in summation order (relative to 1 + |loss|)

model::LlamaModel test_model() {
  model::LlamaModel m(model::preset_config("test"));
  model::test::randomize(m.params, 5);
  return m;
}

// Loss of predicting `target` after `context` (all of it in one forward pass).
double reference_loss(const model::LlamaModel& m, const std::vector<int32_t>& context, int32_t target) {
  const int64_t T = static_cast<int64_t>(context.size());
  std::vector<int32_t> targets(context.size(), kernels::kIgnoreIndex);
  targets.back() = target;
  model::TrainWorkspace ws;
  std::vector<float> losses(context.size());
  model::forward_loss(m, context.data(), targets.data(), 1, T, ws, losses.data());
  return losses.back();
}

std::vector<int32_t> slice(const std::vector<int32_t>& x, int64_t a, int64_t b) {
  return std::vector<int32_t>(x.begin() + a, x.begin() + b);
}

TEST(Scoring, PrefixScoresEveryTargetWithTheWholePrefix) {
  const model::LlamaModel m = test_model();
  const auto stream = testing::random_ints(41, 3, 0, 63);  // BOS + 40 tokens
  TokenScorer scorer(m);
  std::vector<float> got(30);
  scorer.prefix_losses(got.data(), stream, 30);
  for (int64_t p = 0; p < 30; ++p)
    EXPECT_NEAR(got[p], reference_loss(m, slice(stream, 0, p + 1), stream[p + 1]),
                kTol * (1 + std::fabs(got[p])))
        << "position " << p;
  EXPECT_EQ(scorer.tokens(), 30);
  EXPECT_THROW(scorer.prefix_losses(got.data(), stream, 41), Error);  // needs 42 stream tokens
}

TEST(Scoring, SlidingWindowsScoreEachTargetOnceInTheFirstWindowReachingIt) {
  const model::LlamaModel m = test_model();
  const auto stream = testing::random_ints(11, 4, 0, 63);
  // L = 10, window 4, stride 2: windows start at 0, 2, 4, 6. Window 0 scores targets 0..3
  // (inputs x0..x3); window 2 inputs x2..x5 scores 4, 5; window 4 scores 6, 7; window 6 8, 9.
  const int64_t start_of[10] = {0, 0, 0, 0, 2, 2, 4, 4, 6, 6};
  TokenScorer scorer(m);
  std::vector<float> got(10);
  scorer.sliding_losses(got.data(), stream, 10, 4, 2);
  for (int64_t p = 0; p < 10; ++p)
    EXPECT_NEAR(got[p], reference_loss(m, slice(stream, start_of[p], p + 1), stream[p + 1]),
                kTol * (1 + std::fabs(got[p])))
        << "position " << p;
  EXPECT_EQ(scorer.tokens(), 4 * 4);  // four passes of four tokens
  // A window as long as the sequence is the prefix rule.
  std::vector<float> whole(10), prefix(10);
  scorer.sliding_losses(whole.data(), stream, 10, 16, 8);
  scorer.prefix_losses(prefix.data(), stream, 10);
  for (int64_t p = 0; p < 10; ++p) EXPECT_NEAR(whole[p], prefix[p], 1e-6);
  // Stride = window: disjoint windows; target 7 sees x4..x7 only.
  scorer.sliding_losses(got.data(), stream, 10, 4, 4);
  EXPECT_NEAR(got[7], reference_loss(m, slice(stream, 4, 8), stream[8]), kTol * (1 + std::fabs(got[7])));
  EXPECT_NEAR(got[3], reference_loss(m, slice(stream, 0, 4), stream[4]), kTol * (1 + std::fabs(got[3])));
}

TEST(Scoring, LlamaCppChunkingRules) {
  const model::LlamaModel m = test_model();
  const int32_t bos = 1;
  const int64_t n_ctx = 16;
  // 40 tokens: two 16-token chunks (the 8-token tail is dropped); 20 tokens: under 2 chunks.
  std::vector<int32_t> doc = testing::random_ints(40, 6, 2, 63);
  doc[0] = bos;
  const std::vector<int32_t> short_doc = testing::random_ints(20, 7, 2, 63);
  TokenScorer scorer(m);
  const LlamaCppPerplexity r = llamacpp_perplexity(scorer, {doc, short_doc}, n_ctx, bos);
  EXPECT_EQ(r.chunks, 2);
  EXPECT_EQ(r.documents_used, 1);
  EXPECT_EQ(r.documents_skipped, 1);
  EXPECT_EQ(r.count, 2 * (16 - 8 - 1));  // positions 8..14 of each chunk
  double nll = 0, nll2 = 0;
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<int32_t> chunk = slice(doc, c * n_ctx, (c + 1) * n_ctx);
    chunk[0] = bos;  // the chunk's first token is replaced by BOS
    for (int64_t j = 8; j <= 14; ++j) {
      const double v = reference_loss(m, slice(chunk, 0, j + 1), doc[static_cast<size_t>(c * n_ctx + j + 1)]);
      nll += v, nll2 += v * v;
    }
  }
  EXPECT_NEAR(r.nll_sum, nll, 1e-4);
  EXPECT_NEAR(r.ppl(), std::exp(nll / 14), 1e-4 * std::exp(nll / 14));
  const double mean = nll / 14, err = std::sqrt((nll2 / 14 - mean * mean) / 13) * std::exp(mean);
  EXPECT_NEAR(r.ppl_error(), err, 1e-3 * err);
}

}  // namespace
}  // namespace longctx::eval
