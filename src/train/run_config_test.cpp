#include "train/run_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace longctx::train {
namespace {

TrainConfig sample_config() {
  TrainConfig c;
  c.data = {"data/a:0.6", "data/b with space:0.4"};
  c.out = "runs/x";
  c.seq = 256;
  c.lr = 1.0 / 3.0;  // needs 17 digits to read back
  c.rope = "abf:base=500000";
  resolve_config(c, 2);
  return c;
}

// config.toml reads back (through CLI11's TOML parser) to the same entries; a changed key is
// named with its role: identity keys refuse a resume, threads only costs bit-exactness,
// control keys (out, save-every) may change.
TEST(RunConfig, TomlRoundTripAndDifferences) {
  const TrainConfig c = sample_config();
  EXPECT_EQ(c.warmup, 20);  // 2% of the default 1000 steps
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.batch_tokens, 256);
  const auto path =
      std::filesystem::temp_directory_path() /
      (std::string("longctx-train-config-").append(std::to_string(::getpid())).append(".toml"));
  { std::ofstream(path) << config_toml(c); }
  const auto stored = read_config_toml(path.string());
  EXPECT_TRUE(compare_config(stored, config_entries(c)).empty());
  bool found_data = false;
  for (const ConfigEntry& e : stored)
    if (e.key == "data") {
      found_data = true;
      EXPECT_EQ(e.value, "data/a:0.6\ndata/b with space:0.4");
    }
  EXPECT_TRUE(found_data);

  TrainConfig other = c;
  other.lr = 0.5;
  other.threads = 4;
  other.out = "elsewhere";
  other.save_every = 7;
  const auto diffs = compare_config(stored, config_entries(other));
  ASSERT_EQ(diffs.size(), 2u);
  EXPECT_EQ(diffs[0].key, "lr");
  EXPECT_EQ(diffs[0].role, KeyRole::kIdentity);
  EXPECT_EQ(diffs[1].key, "threads");
  EXPECT_EQ(diffs[1].role, KeyRole::kExactness);
  std::filesystem::remove(path);
}

TEST(RunConfig, ResolveNamesTheFlag) {
  auto message = [](TrainConfig c) {
    try {
      resolve_config(c, 1);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  TrainConfig c;
  c.data = {"d"};
  c.out = std::string("o");  // move-assigned: a literal trips GCC 12's -Wrestrict false alarm
  c.seq = 128;
  EXPECT_EQ(message(c), "");
  TrainConfig bad = c;
  bad.batch_tokens = 200;
  EXPECT_NE(message(bad).find("--batch-tokens"), std::string::npos);
  bad = c, bad.pose_target = 64;
  EXPECT_NE(message(bad).find("--pose-target"), std::string::npos);
  bad = c, bad.out.clear();
  EXPECT_NE(message(bad).find("--out"), std::string::npos);
  bad = c, bad.matmul_precision = std::string("fp16");
  EXPECT_NE(message(bad).find("--matmul-precision"), std::string::npos);
  bad = c, bad.command = RunCommand::kExtend, bad.from = std::string("m");
  EXPECT_NE(message(bad).find("--rope"), std::string::npos);
}

// The curriculum keys came later: a config.toml written before them (no short-* lines) still
// resumes with a run without curriculum, and is refused for one with a curriculum.
TEST(RunConfig, ConfigWithoutCurriculumKeysMeansNoCurriculum) {
  const TrainConfig c = sample_config();
  std::vector<ConfigEntry> old_stored;
  for (const ConfigEntry& e : config_entries(c))
    if (e.key.rfind("short-", 0) != 0) old_stored.push_back(e);
  ASSERT_EQ(old_stored.size() + 3, config_entries(c).size());
  EXPECT_TRUE(compare_config(old_stored, config_entries(c)).empty());
  TrainConfig curriculum = c;
  curriculum.short_seq = 64;
  curriculum.short_share = 0.2;
  const auto diffs = compare_config(old_stored, config_entries(curriculum));
  ASSERT_EQ(diffs.size(), 2u);
  EXPECT_EQ(diffs[0].key, "short-seq");
  EXPECT_EQ(diffs[0].stored, "(absent)");
  EXPECT_EQ(diffs[1].key, "short-share");
}

}  // namespace
}  // namespace longctx::train
