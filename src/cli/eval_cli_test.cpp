// `longctx eval ppl|kld|fsr|passkey|niah` and `longctx report` on stories260K, run as a user
// would; the report is opened in headless Chromium when it is installed
// (scripts/install-deps.sh --browser), else that part is skipped with a message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/cli_test_util.h"
#include "io/stories_fixture.h"

namespace {
namespace fs = std::filesystem;
using longctx::cli::test::run_longctx;
using longctx::cli::test::run_shell;
using longctx::test_fixtures::kData;
using longctx::test_fixtures::kStories;

fs::path temp_dir() {
  const fs::path p = fs::temp_directory_path() / ("longctx_eval_cli_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

class EvalCliEnv : public ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("longctx_eval_cli_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new EvalCliEnv);

// The first 40,000 characters of a novel (about 15k stories260K tokens) and a short story
// whose first sentence fits small FSR prompts.
void write_texts(const fs::path& dir) {
  std::ifstream in(kData + "/text/pg11.txt");
  std::string novel(40000, '\0');
  in.read(novel.data(), static_cast<std::streamsize>(novel.size()));
  std::ofstream(dir / "novel.txt") << novel;
  std::string story = "Lily saw a big red ball in the park. ";
  for (int i = 0; i < 60; ++i) story += "She ran and played with her friend Tom. The sun was warm. ";
  std::ofstream(dir / "story.txt") << story;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::string find_chromium() {
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (fs::exists(c)) return c;
  return "";
}

TEST(EvalCli, AllEvaluationsThenTheReport) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir() / "all";
  fs::create_directories(dir);
  write_texts(dir);
  const std::string out = (dir / "out").string(), novel = (dir / "novel.txt").string();
  auto r = run_longctx("eval ppl --model " + kStories + " --rope model --rope linear:factor=4 --baseline " +
                       kStories + " --text " + novel +
                       " --lengths 128,512,1k --samples 2 --bucket 128 --longppl-window 256 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("eval ppl rules: samples:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("perplexity (* = beyond the model's trained length)"), std::string::npos);
  EXPECT_NE(r.output.find("change against the baseline"), std::string::npos);
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\d\.\d{3}\*)"))) << "1k is beyond 512:\n" << r.output;
  const nlohmann::json ppl = read_json(dir / "out" / "ppl.json");
  // The baseline is the model under its own encoding: the first row is it, not a third row.
  ASSERT_EQ(ppl["rows"].size(), 2u);
  EXPECT_EQ(ppl["rows"][0]["baseline"], true);
  EXPECT_EQ(ppl["rows"][1]["baseline"], false);
  EXPECT_EQ(ppl["rows"][1]["results"][2]["beyond_trained"], true);

  r = run_longctx("eval passkey --model " + kStories + " --lengths 192,256 --depths 0,1 --count 1 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("effective length"), std::string::npos) << r.output;
  r = run_longctx("eval niah --model " + kStories + " --text " + novel +
                  " --lengths 192,256 --depths 0.5 --count 1 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_longctx("eval fsr --model " + kStories + " --text " + (dir / "story.txt").string() +
                  " --lengths 128,192 --count 1 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json fsr = read_json(dir / "out" / "fsr.json");
  EXPECT_EQ(fsr["rows"][0]["trials"][0]["answer"], "Lily saw a big red ball in the park.");
  r = run_longctx("eval kld --reference " + kStories + " --model " + kStories +
                  " --rope linear:factor=2 --text " + novel + " --lengths 256,512 --samples 2 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("top-1 %"), std::string::npos) << r.output;
  // A `longctx rope` analysis folder goes into the same report.
  const std::string rope_dir = (dir / "rope").string();
  r = run_longctx("rope decay --rope default --rope linear:factor=8 --head-dim 8 -o " + rope_dir);
  ASSERT_EQ(r.status, 0) << r.output;

  const std::string html = (dir / "report.html").string();
  r = run_longctx("report " + out + " " + rope_dir + " -o " + html);
  ASSERT_EQ(r.status, 0) << r.output;
  int svgs = 0;
  for (const std::string& d : {out, rope_dir})
    for (const auto& e : fs::directory_iterator(d)) svgs += e.path().extension() == ".svg";
  EXPECT_NE(r.output.find(std::to_string(svgs) + " plots"), std::string::npos) << r.output;
  for (const char* task : {"ppl", "passkey", "niah", "fsr", "kld"})
    EXPECT_NE(r.output.find(std::string(": ") + task), std::string::npos) << task;

  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "Chromium not installed (scripts/install-deps.sh --browser): the report was built "
                    "but not opened in a browser";
  }
  // Headless Chromium loads the page from disk with the network off; the page's own script
  // records how many plots decoded and any script error on <body>.
  const auto dom = run_shell(chromium + " --headless --no-sandbox --disable-gpu --disable-extensions "
                             "--virtual-time-budget=10000 --dump-dom file://" + html + " 2>/dev/null");
  ASSERT_EQ(dom.status, 0) << dom.output.substr(0, 2000);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.output, m, std::regex(R"re(data-plots-loaded="(\d+)")re")))
      << "the page's check did not run:\n" << dom.output.substr(0, 2000);
  EXPECT_EQ(std::stoi(m[1]), svgs);
  EXPECT_NE(dom.output.find("data-plots-failed=\"0\""), std::string::npos);
  EXPECT_NE(dom.output.find("data-errors=\"0\""), std::string::npos);
  EXPECT_NE(dom.output.find(std::to_string(svgs) + " of " + std::to_string(svgs) + " plots rendered"),
            std::string::npos);
}

TEST(EvalCli, LlamaCppModeMemoryRefusalAndBadInput) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const fs::path dir = temp_dir() / "bad";
  fs::create_directories(dir);
  write_texts(dir);
  const std::string novel = (dir / "novel.txt").string(), out = (dir / "out").string();
  auto r = run_longctx("eval ppl --model " + kStories + " --text " + novel + " --mode llamacpp --ctx 128 -o " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(Final estimate: PPL = \d+\.\d{4} \+/- \d+\.\d{5})")))
      << r.output;

  r = run_longctx("eval ppl --model " + kStories + " --text " + novel + " --lengths 512,8k --max-memory 0.005 -o " + out);
  EXPECT_EQ(r.status, 1) << r.output;
  // About 3.4 MB at 512 tokens (weights, one chunk's activations), 21 MB at 8192.
  EXPECT_NE(r.output.find("eval ppl: length 8192 needs an estimated"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("over the limit of 5.0 MB"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("[1/1]"), std::string::npos) << "started before refusing:\n" << r.output;

  r = run_longctx("eval ppl --model " + kStories + " --lengths 128 -o " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--text or --data"), std::string::npos) << r.output;
  r = run_longctx("eval ppl --model " + kStories + " --text " + novel + " --mode chunky -o " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--mode: 'chunky'"), std::string::npos) << r.output;
  r = run_longctx("eval passkey --model " + kStories + " --rope warp -o " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("--rope 'warp'"), std::string::npos) << r.output;
  r = run_longctx("eval ppl --model " + kStories + " --text " + novel + " --lengths 64k -o " + out);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("reaches the longest length 65536"), std::string::npos) << r.output;
  r = run_longctx("report " + (dir / "nothing").string() + " -o " + (dir / "r.html").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("is not a folder"), std::string::npos) << r.output;
}

TEST(EvalCli, GenerateStopsAtAStopString) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  // Greedy stories260K text: "Once upon a time, there was a little girl named Lily. ..."
  const auto r = run_longctx("generate --model " + kStories + " --prompt '' --greedy --max-tokens 40 --stop ' Lily' --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "Once upon a time, there was a little girl named\n");
}

}  // namespace
