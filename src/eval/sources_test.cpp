// Samples (round-robin over documents, consecutive pieces), rows (model x encoding) and run
// folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "eval/eval_test_util.h"
#include "eval/sources.h"

namespace longctx::eval {
namespace {

std::vector<int32_t> iota(int n, int first) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = first + i;
  return v;
}

TEST(Sources, SamplesAreConsecutivePiecesTakenRoundRobin) {
  const std::vector<std::vector<int32_t>> docs = {iota(10, 0), iota(25, 100), iota(3, 200)};
  const SampleSet all = cut_samples(docs, 5, 100);
  // First pieces of every long-enough document, then second pieces, ...
  const std::vector<std::pair<int64_t, int64_t>> order = {{0, 0}, {1, 0}, {0, 5}, {1, 5},
                                                          {1, 10}, {1, 15}, {1, 20}};
  ASSERT_EQ(all.samples.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(all.samples[i].doc, order[i].first) << i;
    EXPECT_EQ(all.samples[i].offset, order[i].second) << i;
    EXPECT_EQ(all.samples[i].tokens,
              std::vector<int32_t>(docs[static_cast<size_t>(order[i].first)].begin() + order[i].second,
                                   docs[static_cast<size_t>(order[i].first)].begin() + order[i].second + 5));
  }
  EXPECT_EQ(all.documents_too_short, 1);
  EXPECT_EQ(all.longest_document, 25);
  EXPECT_EQ(cut_samples(docs, 5, 3).samples.size(), 3u);
  EXPECT_TRUE(cut_samples(docs, 26, 10).samples.empty());
}

TEST(Sources, RunFolderResolvesToFinal) {
  const std::string dir = test::temp_dir("run");
  std::filesystem::create_directories(dir + "/final");
  EXPECT_EQ(resolve_model_path(dir), dir);  // no final/config.json yet
  std::ofstream(dir + "/final/config.json") << "{}";
  EXPECT_EQ(resolve_model_path(dir), dir + "/final");
  std::ofstream(dir + "/config.json") << "{}";
  EXPECT_EQ(resolve_model_path(dir), dir);  // a Hugging Face folder itself
  std::filesystem::remove_all(dir);
}

TEST(Sources, RowsAreModelsTimesEncodings) {
  if (!test::have_stories()) GTEST_SKIP() << "no ../shared/data";
  std::vector<EvalModel> models;
  models.push_back(load_eval_model(test_fixtures::kStories));
  EXPECT_EQ(models[0].trained_length, 512);
  EXPECT_EQ(models[0].name, "stories260K-f32.gguf");
  const auto own = make_rows(models, {});
  ASSERT_EQ(own.size(), 1u);
  EXPECT_TRUE(own[0].native);
  const auto rows = make_rows(models, {"model", "linear:factor=8", "yarn:factor=8,original=512"});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].native);
  EXPECT_FALSE(rows[1].native);
  EXPECT_EQ(rows[1].label, "stories260K-f32.gguf | linear:factor=8");
  apply_row(models, rows[2]);
  EXPECT_EQ(models[0].loaded.model.config.rope.kind, rope::RopeKind::kYarn);
  try {
    make_rows(models, {"warp:factor=2"});
    FAIL() << "unknown rope kind accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--rope 'warp:factor=2'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace longctx::eval
