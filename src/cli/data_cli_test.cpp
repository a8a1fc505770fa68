// The `longctx tokenizer` and `longctx data` commands, run as a user would.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/test_support.h"

namespace {
namespace fs = std::filesystem;
using longctx::data::testing::read_bytes;
using longctx::data::testing::synthetic_text;
using longctx::data::testing::temp_dir;
using longctx::data::testing::write_text;

struct CliRun {
  int status;
  std::string out;  // stdout and stderr
};

CliRun run(const std::string& args) {
  const std::string cmd = std::string(LONGCTX_BINARY) + " --threads 2 " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// Runs the binary with `args` (stdout and stderr to `log`) and returns its exit status and its
// peak resident set size in MiB, as the kernel accounts it (wait4), not as the program says.
std::pair<int, double> run_measuring_rss(const std::string& args, const fs::path& log) {
  const std::string cmd = "exec " + std::string(LONGCTX_BINARY) + " --threads 2 " + args + " > " +
                          log.string() + " 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  struct rusage ru {};
  if (pid < 0 || ::wait4(pid, &st, 0, &ru) != pid) return {-1, 0};
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, static_cast<double>(ru.ru_maxrss) / 1024.0};
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void write_gzip(const fs::path& path, const std::string& text) {
  gzFile gz = gzopen(path.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
}

TEST(DataCli, TrainPrepareSampleResumeAndTasks) {
  const auto dir = temp_dir("cli");
  fs::create_directories(dir / "corpus");
  for (int i = 0; i < 6; ++i)
    write_text(dir / "corpus" / ("doc" + std::to_string(i) + ".txt"),
               synthetic_text(50 + i, 4000 + 9000 * i));
  const std::string model = (dir / "tok.model").string();
  CliRun r = run("tokenizer train " + (dir / "corpus").string() + " -o " + model +
              " --vocab-size 400");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("vocab 400"), std::string::npos) << r.out;
  r = run("tokenizer encode --model " + model + " --bos 'The river'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("1 ", 0), 0u) << r.out;  // BOS id first

  const std::string out = (dir / "shards").string();
  r = run("data prepare " + (dir / "corpus").string() + " --tokenizer " + model + " -o " + out +
          " --valid-fraction 0 --valid-longest 1");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto ds = read_json(fs::path(out) / "dataset.json");
  EXPECT_EQ(ds["all"]["documents"].get<int>(), 6);
  EXPECT_EQ(ds["valid"]["documents"].get<int>(), 1);
  EXPECT_EQ(ds["input"]["files"].get<int>(), 6);

  // Sampling through the CLI resumes from a printed cursor.
  r = run("data sample --data " + out + " --seq-len 300 --count 3 --seed 9");
  ASSERT_EQ(r.status, 0) << r.out;
  std::vector<nlohmann::json> lines;
  std::istringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 4u);
  r = run("data sample --data " + out + " --seq-len 300 --count 1 --seed 9");
  const auto first = nlohmann::json::parse(r.out.substr(r.out.find('\n') + 1));
  r = run("data sample --data " + out + " --seq-len 300 --count 2 --seed 9 --cursor '" +
          first["cursor"].dump() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto resumed = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(resumed["inputs"], lines[1]["inputs"]);
  r = run("data sample --data " + out + " --seq-len 301 --count 1 --seed 9 --cursor '" +
          first["cursor"].dump() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("seq_len"), std::string::npos) << r.out;

  const std::string tasks = (dir / "pk.jsonl").string();
  r = run("data tasks --task passkey --tokenizer " + model + " --lengths 300,1k --count 2 -o " +
          tasks);
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream in(tasks);
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["tokens"], j["target_tokens"]);
  }
  EXPECT_EQ(n, 4);
}

TEST(DataCli, BadFlagsAndInputsGiveMessagesNotCrashes) {
  const auto dir = temp_dir("clibad");
  CliRun r = run("data prepare " + dir.string() + " --tokenizer " + (dir / "none.model").string() +
              " -o " + (dir / "o").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("none.model"), std::string::npos) << r.out;
  r = run("data prepare " + dir.string() + " --tokenizer x -o y --segment-kb 0.5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("--segment-kb"), std::string::npos) << r.out;
  r = run("data tasks --task bogus --tokenizer x -o y");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("bogus"), std::string::npos) << r.out;
  r = run("tokenizer train " + (dir / "missing").string() + " -o " + (dir / "m.model").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("empty"), std::string::npos) << r.out;
}

// Issue 13: one 16 MB text file that is a single line ('a' repeated, as minified dumps and
// blobs are) used to hold whole 8 MB documents inside SentencePiece, ~100 bytes of memory per
// byte of text (1.56 GB peak for 30 MB). Tokenised in bounded segments it stays far below.
TEST(DataCli, SingleLineFileOfTensOfMegabytesPreparesInBoundedMemory) {
  const auto dir = temp_dir("rss");
  fs::create_directories(dir / "corpus");
  write_text(dir / "corpus" / "train.txt", synthetic_text(3, 300000));
  const std::string model = (dir / "tok.model").string();
  CliRun r = run("tokenizer train " + (dir / "corpus" / "train.txt").string() + " -o " + model +
                 " --vocab-size 400");
  ASSERT_EQ(r.status, 0) << r.out;
  fs::create_directories(dir / "huge");
  write_text(dir / "huge" / "one-line.txt", std::string(16u << 20, 'a'));
  const auto [status, rss_mib] = run_measuring_rss(
      "data prepare " + (dir / "huge").string() + " --tokenizer " + model + " -o " +
          (dir / "out").string(), dir / "log.txt");
  const std::string out = read_bytes(dir / "log.txt");
  ASSERT_EQ(status, 0) << out;
  const auto ds = read_json(dir / "out" / "dataset.json");
  EXPECT_GE(ds["bytes"].get<int64_t>(), 16 << 20);  // plus the newlines of wrapped lines
  EXPECT_GE(ds["segments"]["segments"].get<int64_t>(), (16 << 20) / (256 << 10));
  // The bound docs/data.md states for default flags and 2 threads (measured: ~180 MiB).
  EXPECT_LT(rss_mib, 320.0) << out;
  std::printf("peak RSS of data prepare on a 16 MiB single-line file: %.0f MiB\n", rss_mib);
}

// A fake Debian root with only two of the five sources: the build names the missing packages
// and carries on; with none it stops with the install command.
TEST(DataCli, DefaultCorpusCarriesOnWithoutMissingPackages) {
  const auto root = temp_dir("root");
  fs::create_directories(root / "usr/share/doc/jargon-text");
  fs::create_directories(root / "usr/share/debian-reference");
  write_gzip(root / "usr/share/doc/jargon-text/jargon.txt.gz", synthetic_text(1, 120000));
  write_gzip(root / "usr/share/debian-reference/debian-reference.en.txt.gz",
             synthetic_text(2, 60000));
  const std::string out = (root / "built").string();
  CliRun r = run("data default --root " + root.string() + " -o " + out +
              " --vocab-size 400 --valid-longest 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("apt-get install bible-kjv"), std::string::npos) << r.out;
  const auto corpus = read_json(fs::path(out) / "corpus.json");
  EXPECT_EQ(corpus["missing"].size(), 3u);
  EXPECT_EQ(corpus["dataset"]["all"]["documents"].get<int>(), 2);
  EXPECT_EQ(corpus["dataset"]["valid"]["documents"].get<int>(), 1);
  EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer.model"));
  const auto empty = temp_dir("emptyroot");
  r = run("data default --root " + empty.string() + " -o " + (empty / "o").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("install-deps.sh --corpus"), std::string::npos) << r.out;
}

}  // namespace
