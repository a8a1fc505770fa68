// eval ppl end to end on stories260K and a novel: the prefix rule against an independent
// forward, bucket averages consistent with the means, beyond-trained marks, baseline
// changes, LongPPL's evaluator and key tokens, the outputs, and the memory refusal.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/eval_test_util.h"
#include "eval/ppl_eval.h"
#include "model/llama.h"

namespace longctx::eval {
namespace {

struct Fixture {
  std::vector<EvalModel> models;
  std::vector<EvalRow> rows;
  DocumentSet docs;
  PplOptions options;
};

Fixture make_fixture() {
  Fixture f;
  f.models.push_back(load_eval_model(test_fixtures::kStories));
  f.models.push_back(load_eval_model(test_fixtures::kStories));  // the baseline
  f.rows = make_rows(f.models, {"model", "linear:factor=4"});
  f.rows.resize(2);  // the first model's two rows
  EvalRow base = make_rows(f.models, {})[1];
  base.baseline = true;
  f.rows.push_back(base);
  f.docs.texts = read_text_documents({test::kNovel});
  f.options.lengths = {64, 256, 1024};
  f.options.rules.max_samples = 3;
  f.options.rules.bucket = 100;
  f.options.longppl.window = 128;
  return f;
}

TEST(PplEval, PrefixRuleBucketsBaselineAndLongPpl) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  Fixture f = make_fixture();
  const PplResult r = run_ppl(f.models, f.rows, f.docs, f.options);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].tokenization, r.rows[2].tokenization);  // same tokenizer -> same samples
  ASSERT_EQ(r.longppl_evaluators.size(), 1u);
  EXPECT_EQ(r.longppl_evaluators[0], f.rows[0].label);

  // Independent check of the prefix rule for row 0 at length 64: samples are the novel's
  // tokens [0, 1024), [1024, 2048), [2048, 3072); each is BOS + its first 63 tokens in, its
  // first 64 tokens as targets.
  const io::Tokenizer& tok = f.models[0].tokenizer();
  const std::vector<int32_t> doc = tok.encode(f.docs.texts[0].text);
  f.models[0].loaded.model.config.rope = f.models[0].native_rope;
  double total = 0;
  for (int s = 0; s < 3; ++s) {
    std::vector<int32_t> in = {tok.bos_id()}, tg;
    in.insert(in.end(), doc.begin() + s * 1024, doc.begin() + s * 1024 + 63);
    tg.assign(doc.begin() + s * 1024, doc.begin() + s * 1024 + 64);
    model::TrainWorkspace ws;
    total += model::forward_loss(f.models[0].loaded.model, in.data(), tg.data(), 1, 64, ws).loss_sum;
  }
  const PplAtLength& a64 = r.rows[0].lengths[0];
  EXPECT_EQ(a64.tokens_scored, 3 * 64);
  EXPECT_NEAR(a64.mean_nll, total / (3 * 64), 1e-5);
  EXPECT_NEAR(a64.ppl, std::exp(total / (3 * 64)), 1e-4 * a64.ppl);

  for (const PplRow& row : r.rows) {
    ASSERT_EQ(row.lengths.size(), 3u);
    EXPECT_FALSE(row.lengths[1].beyond_trained);  // 256 <= 512
    EXPECT_TRUE(row.lengths[2].beyond_trained);   // 1024 > 512
    for (const PplAtLength& a : row.lengths) {
      // Buckets of 100 positions cover every scored token; their weighted mean is the mean.
      double sum = 0;
      int64_t n = 0;
      for (const Bucket& b : a.buckets) sum += b.mean * static_cast<double>(b.count), n += b.count;
      EXPECT_EQ(n, a.tokens_scored);
      EXPECT_NEAR(sum / static_cast<double>(n), a.mean_nll, 1e-9);
      EXPECT_EQ(a.buckets.size(), static_cast<size_t>((a.length + 99) / 100));
      EXPECT_LE(a.nll_ci.lo, a.mean_nll);
      EXPECT_GE(a.nll_ci.hi, a.mean_nll);
      EXPECT_GT(a.tokens_per_second, 0);
      ASSERT_TRUE(a.delta_nll.has_value());
    }
  }
  // Baseline changes: the model under its own encoding equals the baseline; linear differs.
  for (size_t li = 0; li < 3; ++li) {
    EXPECT_NEAR(*r.rows[0].lengths[li].delta_nll, 0.0, 1e-12);
    EXPECT_NEAR(*r.rows[2].lengths[li].delta_nll, 0.0, 1e-12);
    EXPECT_GT(std::fabs(*r.rows[1].lengths[li].delta_nll), 1e-3);
  }
  // LongPPL: no key token can exist within the 128-token short window.
  EXPECT_EQ(r.rows[0].lengths[0].key_tokens, 0);
  EXPECT_TRUE(std::isnan(r.rows[0].lengths[0].longppl));
  EXPECT_EQ(r.rows[0].lengths[2].key_tokens, r.rows[2].lengths[2].key_tokens);

  const std::string dir = test::temp_dir("ppl");
  write_ppl_outputs(r, dir);
  for (const char* f : {"ppl.json", "ppl.csv", "ppl_buckets.csv", "ppl_vs_length.svg", "ppl_position.svg"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  std::ifstream in(dir + "/ppl.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["task"], "ppl");
  EXPECT_EQ(j["rules"]["mode"], "prefix");
  EXPECT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][1]["rope"], "linear:factor=4");
  EXPECT_EQ(j["rows"][0]["results"][2]["beyond_trained"], true);
  EXPECT_NEAR(j["rows"][0]["results"][0]["ppl"].get<double>(), a64.ppl, 1e-9);
  EXPECT_NE(ppl_summary(r).find("perplexity"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(PplEval, RefusesLengthsThatDoNotFitBeforeStarting) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  Fixture f = make_fixture();
  f.options.memory_limit = 2'500'000;  // the weights alone (2 x 1.15 MB) nearly fill it
  try {
    run_ppl(f.models, f.rows, f.docs, f.options);
    FAIL() << "no refusal";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("eval ppl: length "), std::string::npos) << m;
    EXPECT_NE(m.find(" needs an estimated "), std::string::npos) << m;
    EXPECT_NE(m.find("weights"), std::string::npos) << m;
    EXPECT_NE(m.find("over the limit of 2.5 MB"), std::string::npos) << m;
  }
}

TEST(PplEval, SlidingAndLlamaCppModes) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  Fixture f = make_fixture();
  f.rows.resize(1);
  f.options.longppl.enabled = false;
  f.options.lengths = {256};
  f.options.rules.mode = PplMode::kSliding;
  f.options.rules.window = 64;
  f.options.rules.bucket = 64;
  const PplResult s = run_ppl(f.models, f.rows, f.docs, f.options);
  f.options.rules.mode = PplMode::kPrefix;
  const PplResult p = run_ppl(f.models, f.rows, f.docs, f.options);
  // The first window's targets have the same context in both modes.
  EXPECT_NEAR(s.rows[0].lengths[0].buckets[0].mean, p.rows[0].lengths[0].buckets[0].mean, 1e-6);
  EXPECT_NE(s.rows[0].lengths[0].mean_nll, p.rows[0].lengths[0].mean_nll);

  f.docs.texts[0].text.resize(40000);  // ~15k tokens: enough chunks, quick
  f.options.rules.mode = PplMode::kLlamaCpp;
  f.options.rules.n_ctx = 128;
  const PplResult l = run_ppl(f.models, f.rows, f.docs, f.options);
  ASSERT_TRUE(l.rows[0].llamacpp.has_value());
  const LlamaCppPerplexity& c = *l.rows[0].llamacpp;
  const int64_t tokens = static_cast<int64_t>(f.models[0].tokenizer().encode(f.docs.texts[0].text, true).size());
  EXPECT_EQ(c.chunks, tokens / 128);
  EXPECT_EQ(c.count, c.chunks * (128 - 64 - 1));
  EXPECT_GT(c.ppl(), 1.0);
  EXPECT_NE(ppl_summary(l).find("Final estimate: PPL = "), std::string::npos);
}

}  // namespace
}  // namespace longctx::eval
