// End-to-end checks of `longctx generate` and `longctx convert` through the binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

#include "io/gguf.h"
#include "io/model_io.h"
#include "io/tokenizer.h"
#include "io/stories_fixture.h"
#include "io/tiny_tokenizer_fixture.h"

namespace {

namespace fs = std::filesystem;
using longctx::test_fixtures::kStories;
using longctx::test_fixtures::kStoriesText;

struct RunResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

RunResult run(const std::string& args) {
  const std::string cmd = std::string(LONGCTX_BINARY) + " --threads 1 " + args + " 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("longctx_io_cli_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

class IoCliEnv : public ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("longctx_io_cli_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new IoCliEnv);

TEST(IoCli, GreedyStoriesFromGgufAndAfterConvertingBothWays) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir();
  const std::string gen = " --prompt \"\" --greedy --max-tokens 40 --quiet";
  RunResult r = run("generate --model " + kStories + gen);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, kStoriesText.size()), kStoriesText) << r.output;

  const std::string hf = (dir / "hf").string(), back = (dir / "back.gguf").string();
  r = run("convert --in " + kStories + " --out " + hf);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(fs::path(hf) / "model.safetensors"));
  EXPECT_TRUE(fs::exists(fs::path(hf) / "tokenizer.model"));
  r = run("generate --model " + hf + gen);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, kStoriesText.size()), kStoriesText) << r.output;
  r = run("convert --in " + hf + " --out " + back);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("generate --model " + back + gen);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.substr(0, kStoriesText.size()), kStoriesText) << r.output;
}

TEST(IoCli, ConvertKeepsAbfAndHalfPrecision) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir();
  const std::string hf = (dir / "abf").string(), gguf = (dir / "abf.gguf").string();
  RunResult r = run("convert --in " + kStories + " --out " + hf + " --rope abf:base=500000 --dtype bf16");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("convert --in " + hf + " --out " + gguf + " --dtype f16");
  ASSERT_EQ(r.status, 0) << r.output;
  const longctx::io::GgufFile g = longctx::io::GgufFile::open(gguf);
  EXPECT_EQ(g.get_float("llama.rope.freq_base"), 500000.0);
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, longctx::io::GgmlType::kF16);
}

TEST(IoCli, BadInputIsAnErrorNotACrash) {
  const fs::path dir = temp_dir();
  RunResult r = run("generate --model " + (dir / "missing.gguf").string() + " --greedy");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("missing.gguf"), std::string::npos) << r.output;
  const std::string junk = (dir / "junk.gguf").string();
  FILE* f = std::fopen(junk.c_str(), "wb");
  std::fputs("GGUF\x03\0\0\0garbage", f);
  std::fclose(f);
  r = run("convert --in " + junk + " --out " + (dir / "o").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("junk.gguf"), std::string::npos) << r.output;
  if (fs::exists(kStories)) {
    r = run("convert --in " + kStories + " --out " + (dir / "x.gguf").string() + " --dtype q4");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("--dtype"), std::string::npos) << r.output;
  }
}

// A tokenizer with more pieces than the model has embedding rows, or a position encoding the
// target format cannot hold: convert refuses before writing anything.
TEST(IoCli, ConvertRefusesInconsistentModelsAndWritesNothing) {
  const fs::path dir = temp_dir();
  longctx::model::LlamaModel m(longctx::model::preset_config("test"));  // 64 embedding rows
  longctx::model::init_weights(m, 1);
  const std::string hf = (dir / "tiny_hf").string();
  longctx::io::save_hf_model(m, nullptr, hf);
  const std::string big = (dir / "big.model").string();
  const std::string proto = longctx::test_fixtures::tiny_tokenizer_proto(100);
  std::ofstream(big, std::ios::binary) << proto;
  struct Case {
    std::string flags, message;
    bool hf_too;  // refused for a Hugging Face folder as well as for GGUF
  };
  std::vector<Case> cases = {{"--tokenizer " + big, "100 pieces but the embedding only 64 rows", true},
                             {"--rope xpos", "xpos", false}};  // HF holds xPos; GGUF cannot
  const std::string llama2 = longctx::test_fixtures::kData + "/models/llama2-tokenizer.model";
  if (fs::exists(llama2))  // the case reported in issue 13
    cases.push_back({"--tokenizer " + llama2, "32000 pieces but the embedding only 64 rows", true});
  for (const auto& [flags, message, hf_too] : cases)
    for (const std::string out : {"tiny.gguf", "tiny_out"}) {
      if (out == "tiny_out" && !hf_too) continue;
      const fs::path target = dir / out;
      const RunResult r = run("convert --in " + hf + " -o " + target.string() + " " + flags);
      EXPECT_EQ(r.status, 1) << flags << " -> " << out << ": " << r.output;
      EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
      EXPECT_FALSE(fs::exists(target)) << target << " written although refused";
    }
}

}  // namespace

namespace {

// The probabilities `generate --dump-probs` writes (the llama.cpp comparison's input) are
// proper distributions, one per fed id, and on the model's own greedy text their argmax
// is the next token everywhere.
TEST(IoCli, DumpProbsFollowsGreedyText) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const std::string tok_path = std::string(LONGCTX_SHARED_DATA) + "/models/stories260K-tok512.model";
  const auto tok = longctx::io::Tokenizer::from_file(tok_path);
  const std::vector<int32_t> ids = tok.encode(kStoriesText, /*add_bos=*/true);
  std::string list;
  for (int32_t id : ids) {
    if (!list.empty()) list += ',';  // (not "" + std::string&&: GCC 12's false -Wrestrict)
    list += std::to_string(id);
  }
  const fs::path out = temp_dir() / "probs.json";
  RunResult r = run("generate --model " + kStories + " --token-ids " + list +
                    " --max-tokens 0 --dump-probs " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(out);
  const nlohmann::json doc = nlohmann::json::parse(in);
  const auto& probs = doc.at("probs");
  ASSERT_EQ(probs.size(), ids.size());
  for (size_t i = 0; i < probs.size(); ++i) {
    const std::vector<double> p = probs[i].get<std::vector<double>>();
    ASSERT_EQ(p.size(), 512u);
    double sum = 0.0;
    for (double v : p) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-9) << "position " << i;  // softmax in double
    if (i + 1 < ids.size()) {
      const auto argmax = std::max_element(p.begin(), p.end()) - p.begin();
      EXPECT_EQ(argmax, ids[i + 1]) << "position " << i;
    }
  }
  r = run("generate --model " + kStories + " --token-ids 1,99999 --dump-probs " + out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--token-ids"), std::string::npos) << r.output;
}

}  // namespace
