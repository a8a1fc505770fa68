// Probe scoring rules, and the probes end to end on stories260K: exact prompt lengths with
// the model's tokenizer, trials per cell, aggregation, outputs.
#include <gtest/gtest.h>

#include <filesystem>

#include "eval/eval_test_util.h"
#include "eval/probes.h"

namespace longctx::eval {
namespace {

TEST(Probes, AnswerMatching) {
  EXPECT_TRUE(answer_matches(" 12345. Remember", "12345"));
  EXPECT_FALSE(answer_matches(" 123456", "12345"));   // the whole first number must match
  EXPECT_FALSE(answer_matches(" 1234", "12345"));
  EXPECT_FALSE(answer_matches(" 7 and 12345", "12345"));  // only the first number counts
  EXPECT_FALSE(answer_matches(" no number", "12345"));
  EXPECT_TRUE(answer_matches(" The Blue Whale swims", "blue whale"));  // non-numeric answer
  EXPECT_FALSE(answer_matches(" a whale", "blue whale"));
}

TEST(Probes, FsrScoresTheGeneratedFirstSentence) {
  // The output's first sentence is compared; what follows it does not count.
  EXPECT_DOUBLE_EQ(fsr_score(" Alice was very tired. Then more text", "Alice was very tired."), 100.0);
  // alice was tired / alice was very tired: LCS 3, P = 1, R = 3/4, F = 6/7.
  EXPECT_NEAR(fsr_score(" Alice was tired.", "Alice was very tired."), 100.0 * 6 / 7, 1e-9);
  EXPECT_DOUBLE_EQ(fsr_score("", "Alice was very tired."), 0.0);
}

TEST(Probes, PaperLengths) {
  const auto L = paper_fsr_lengths();
  ASSERT_EQ(L.size(), 13u);
  EXPECT_EQ(L.front(), 256);
  EXPECT_EQ(L.back(), 30 * 1024);
}

TEST(Probes, PasskeyFsrNiahOnStories) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  std::vector<EvalModel> models;
  models.push_back(load_eval_model(test_fixtures::kStories));
  const auto rows = make_rows(models, {"model", "linear:factor=2"});
  auto docs = read_text_documents({test::kNovel});
  // FSR needs a document whose first sentence fits the prompt (the novel's is ~400 tokens).
  std::string story = "Lily saw a big red ball in the park. ";
  for (int i = 0; i < 60; ++i) story += "She ran and played with her friend Tom. The sun was warm and happy. ";
  docs.push_back({"story", story});
  ProbeOptions o;
  o.lengths = {192, 256};  // the passkey template alone is 158 tokens
  o.depths = {0.25, 0.75};
  o.count = 2;
  o.max_new_tokens = 8;
  const std::string dir = test::temp_dir("probes");
  for (const ProbeTask task : {ProbeTask::kPasskey, ProbeTask::kNiah, ProbeTask::kFsr}) {
    const ProbeResult r = run_probe(task, models, rows, docs, o);
    ASSERT_EQ(r.rows.size(), 2u);
    const size_t per_row = task == ProbeTask::kFsr ? 2 * 1 : 2 * 2 * 2;  // fsr: the story only
    for (const ProbeRow& row : r.rows) {
      EXPECT_EQ(row.trials.size(), per_row) << probe_task_name(task);
      for (const ProbeTrial& t : row.trials) {
        EXPECT_GE(t.score, 0);
        EXPECT_LE(t.score, 100);
        EXPECT_FALSE(t.answer.empty());
        if (task != ProbeTask::kFsr) {
          EXPECT_TRUE(t.score == 0 || t.score == 100);
        }
      }
      ASSERT_EQ(row.by_length.size(), 2u);
      EXPECT_EQ(row.by_length_depth.size(), task == ProbeTask::kFsr ? 0u : 4u);
      // The by-length score is the mean of its trials.
      double sum = 0;
      int n = 0;
      for (const ProbeTrial& t : row.trials)
        if (t.length == 192) sum += t.score, ++n;
      EXPECT_NEAR(row.by_length[0].score.mean, sum / n, 1e-9);
    }
    write_probe_outputs(r, dir);
    const std::string name = probe_task_name(task);
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + name + ".json"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + name + ".svg"));
    if (task != ProbeTask::kFsr) {
      EXPECT_TRUE(std::filesystem::exists(dir + "/" + name + "_heatmap_1.svg"));
      EXPECT_TRUE(std::filesystem::exists(dir + "/" + name + "_heatmap_2.svg"));
    }
    EXPECT_NE(probe_summary(r).find("effective length"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST(Probes, PromptLengthsAreCheckedNotCut) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  std::vector<EvalModel> models;
  models.push_back(load_eval_model(test_fixtures::kStories));
  const auto rows = make_rows(models, {});
  ProbeOptions o;
  o.lengths = {20};  // shorter than the passkey template: the generator refuses
  o.depths = {0.5};
  o.count = 1;
  EXPECT_THROW(run_probe(ProbeTask::kPasskey, models, rows, {}, o), Error);
  o.lengths = {64};
  o.memory_limit = 1000;  // below the weights
  EXPECT_THROW(run_probe(ProbeTask::kPasskey, models, rows, {}, o), Error);
}

}  // namespace
}  // namespace longctx::eval
