// KL divergence per position against a direct computation from full logits, zero for a
// model against itself, and the run on stories260K under another encoding.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eval/eval_test_util.h"
#include "eval/kld.h"
#include "kernels/testing.h"
#include "model/forward_long.h"
#include "model/model_test_util.h"

namespace longctx::eval {
namespace {

TEST(Kld, PerPositionMatchesFullLogitsInDouble) {
  model::LlamaModel a(model::preset_config("test")), b(model::preset_config("test"));
  model::test::randomize(a.params, 1);
  model::test::randomize(b.params, 2);
  const int64_t T = 70, V = a.config.vocab_size, C = a.config.dim;  // T over one 64-row chunk
  const auto tokens = testing::random_ints(T + 1, 3, 0, 63);
  model::LongForwardWorkspace ws;
  const float* h = model::forward_hidden_long(a, tokens.data(), T, ws);
  const std::vector<float> ha(h, h + T * C);
  const float* hb = model::forward_hidden_long(b, tokens.data(), T, ws);
  std::vector<float> kld(T), nll(T), ref_nll(T);
  std::vector<uint8_t> agree(T);
  kl_per_position(kld.data(), agree.data(), nll.data(), ref_nll.data(), ha.data(), a, hb, b,
                  tokens.data() + 1, T);
  std::vector<float> la(T * V), lb(T * V);
  model::TrainWorkspace tw;
  model::forward_logits(a, tokens.data(), 1, T, tw, la.data());
  model::forward_logits(b, tokens.data(), 1, T, tw, lb.data());
  for (int64_t t = 0; t < T; ++t) {
    double za = 0, zb = 0;
    for (int64_t v = 0; v < V; ++v) za += std::exp(double(la[t * V + v])), zb += std::exp(double(lb[t * V + v]));
    double kl = 0;
    int64_t ma = 0, mb = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double pa = std::exp(double(la[t * V + v])) / za, pb = std::exp(double(lb[t * V + v])) / zb;
      kl += pa * std::log(pa / pb);
      if (la[t * V + v] > la[t * V + ma]) ma = v;
      if (lb[t * V + v] > lb[t * V + mb]) mb = v;
    }
    EXPECT_NEAR(kld[t], kl, 1e-4 * (1 + kl)) << t;
    EXPECT_EQ(agree[t], ma == mb) << t;
    EXPECT_NEAR(nll[t], std::log(zb) - lb[t * V + tokens[t + 1]], 1e-4) << t;
  }
  // Against itself: zero divergence, full agreement.
  kl_per_position(kld.data(), agree.data(), nll.data(), ref_nll.data(), ha.data(), a, ha.data(), a,
                  tokens.data() + 1, T);
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_EQ(kld[t], 0.0f);
    EXPECT_EQ(agree[t], 1);
  }
}

TEST(Kld, StoriesUnderLinearScalingAgainstItsOwnEncoding) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  EvalModel reference = load_eval_model(test_fixtures::kStories);
  std::vector<EvalModel> tmp;
  tmp.push_back(load_eval_model(test_fixtures::kStories));
  const EvalRow ref_row = make_rows(tmp, {})[0];
  std::vector<EvalModel> models;
  models.push_back(load_eval_model(test_fixtures::kStories));
  const auto rows = make_rows(models, {"model", "linear:factor=4"});
  DocumentSet docs;
  docs.texts = read_text_documents({test::kNovel});
  KldOptions o;
  o.lengths = {128, 256};
  o.rules.max_samples = 2;
  o.rules.bucket = 64;
  const KldResult r = run_kld(reference, ref_row, models, rows, docs, o);
  ASSERT_EQ(r.rows.size(), 2u);
  for (const KldAtLength& a : r.rows[0].lengths) {  // same model, same encoding
    EXPECT_EQ(a.mean_kld, 0.0);
    EXPECT_EQ(a.top1_agreement, 1.0);
  }
  for (const KldAtLength& a : r.rows[1].lengths) {
    EXPECT_GT(a.mean_kld, 1e-3);
    EXPECT_LT(a.top1_agreement, 1.0);
    EXPECT_EQ(a.kld_buckets.size(), static_cast<size_t>(a.length / 64));
  }
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["task"], "kld");
  EXPECT_EQ(j["rows"][1]["rope"], "linear:factor=4");
}

}  // namespace
}  // namespace longctx::eval
