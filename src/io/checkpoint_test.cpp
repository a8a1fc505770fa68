#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/checkpoint.h"

namespace longctx::io {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("longctx_ckpt_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct Fixture {
  model::LlamaModel model;
  model::ParameterSet m, v;
  explicit Fixture(uint64_t seed) : model(model::preset_config("test")), m(model.config), v(model.config) {
    model::init_weights(model, seed);
    for (size_t i = 0; i < m.size(); ++i) {
      m.data()[i] = 0.001f * static_cast<float>(i % 997) - 0.3f;
      v.data()[i] = 1e-6f * static_cast<float>(i % 991);
    }
  }
};

class CheckpointEnv : public ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("longctx_ckpt_test_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new CheckpointEnv);

bool same(const model::ParameterSet& a, const model::ParameterSet& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

TEST(Checkpoint, SaveLoadIsBitExactAndKeepsLastN) {
  const fs::path run = temp_dir("run");
  Fixture f(3);
  const nlohmann::json state = {{"schedule_position", 0.25}, {"data_cursor", {{"shard", 2}, {"offset", 12345}}},
                                {"rng", "opaque-bytes"}};
  for (int64_t step : {10, 20, 30, 40}) {
    CheckpointSave s;
    s.model = &f.model;
    s.adam_m = &f.m;
    s.adam_v = &f.v;
    s.step = step;
    s.state = state;
    s.keep_last = 2;
    save_checkpoint(run.string(), s);
  }
  const std::vector<std::string> all = list_checkpoints(run.string());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(fs::path(all[0]).filename(), "checkpoint-00000030");
  const LoadedCheckpoint c = load_checkpoint(run.string());  // the latest
  EXPECT_EQ(c.step, 40);
  EXPECT_EQ(c.state, state);
  EXPECT_TRUE(same(c.model.model.params, f.model.params));
  ASSERT_TRUE(c.adam_m && c.adam_v);
  EXPECT_TRUE(same(*c.adam_m, f.m));
  EXPECT_TRUE(same(*c.adam_v, f.v));
  // Saving the same step again replaces it in place.
  CheckpointSave s;
  Fixture g(4);
  s.model = &g.model;
  s.step = 40;
  save_checkpoint(run.string(), s);
  const LoadedCheckpoint c2 = load_checkpoint(all[1]);
  EXPECT_TRUE(same(c2.model.model.params, g.model.params));
  EXPECT_FALSE(c2.adam_m.has_value());
}

TEST(Checkpoint, CorruptionAndInterruptedSavesAreDetected) {
  const fs::path run = temp_dir("corrupt");
  Fixture f(5);
  CheckpointSave s;
  s.model = &f.model;
  s.adam_m = &f.m;
  s.adam_v = &f.v;
  s.step = 7;
  const std::string dir = save_checkpoint(run.string(), s);
  // A stray temporary from a crash is neither listed nor loaded.
  fs::create_directories(run / ".checkpoint-00000008.tmp");
  EXPECT_EQ(list_checkpoints(run.string()).size(), 1u);
  EXPECT_EQ(load_checkpoint(run.string()).step, 7);
  // Flip one byte of the optimizer state.
  {
    std::fstream io(fs::path(dir) / "optimizer.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(-5, std::ios::end);
    io.put('\x7f');
  }
  try {
    load_checkpoint(dir);
    FAIL() << "corruption not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  fs::remove(fs::path(dir) / "manifest.json");
  try {
    load_checkpoint(dir);
    FAIL() << "missing manifest not detected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("incomplete"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_checkpoint(temp_dir("empty").string()), Error);
}

}  // namespace
}  // namespace longctx::io
