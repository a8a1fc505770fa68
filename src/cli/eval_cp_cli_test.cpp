// `longctx eval ppl --context-parallel 2` under `mpirun -np 2` against one process, on
// stories260K (GQA: 8 query heads over 4 key/value heads): perplexity, LongPPL and the
// per-position losses (buckets of one token) of every mode and of lengths that are not
// multiples of 2K (padded, see eval/context_scoring.h), with a dynamic-NTK row whose
// frequencies depend on the length; rank 0 alone writes; misuse refused with the flag named;
// a rank failing in the middle of the ring ends every rank with the error printed (under
// `timeout`, so a hang fails the test instead of stalling the suite).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"
#include "data/test_support.h"
#include "io/stories_fixture.h"

namespace {
namespace fs = std::filesystem;
using longctx::cli::test::run_longctx;
using longctx::cli::test::run_shell;
using longctx::data::testing::temp_dir;
using longctx::test_fixtures::kData;
using longctx::test_fixtures::kStories;
using nlohmann::json;


json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

std::string mpirun(int ranks, const std::string& mpi_flags = "") {
  return "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) + mpi_flags + " " +
         std::string(LONGCTX_BINARY) + " --threads 1 ";
}

// The training forward with ring attention (context parallel) and the layer-by-layer one
// (one process) round differently; per-token losses are O(1..10) nats.
constexpr double kNllTolerance = 1e-4;  // absolute, per position and per mean

struct Worst {
  double nll = 0, ppl = 0;  // largest |difference| of per-position NLL; relative of ppl
};

// Every row and length of two ppl.json files: the same scored tokens, key tokens, and
// NLLs within the tolerance.
Worst expect_same_ppl(const json& one, const json& cp) {
  Worst w;
  EXPECT_EQ(one["rows"].size(), cp["rows"].size());
  for (size_t i = 0; i < std::min(one["rows"].size(), cp["rows"].size()); ++i) {
    const json &a = one["rows"][i], &b = cp["rows"][i];
    EXPECT_EQ(a["label"], b["label"]);
    EXPECT_EQ(a["samples"], b["samples"]);
    if (a.contains("llamacpp")) {
      const double pa = a["llamacpp"]["ppl"], pb = b["llamacpp"]["ppl"];
      w.ppl = std::max(w.ppl, std::fabs(pb - pa) / pa);
      w.nll = std::max(w.nll, std::fabs(b["llamacpp"]["nll_mean"].get<double>() -
                                        a["llamacpp"]["nll_mean"].get<double>()));
      EXPECT_EQ(a["llamacpp"]["tokens_scored"], b["llamacpp"]["tokens_scored"]);
    }
    EXPECT_EQ(a["results"].size(), b["results"].size());
    for (size_t l = 0; l < std::min(a["results"].size(), b["results"].size()); ++l) {
      const json &x = a["results"][l], &y = b["results"][l];
      EXPECT_EQ(x["tokens_scored"], y["tokens_scored"]);
      EXPECT_EQ(x["key_tokens"], y["key_tokens"]) << a["label"] << " at " << x["length"];
      const double px = x["ppl"], py = y["ppl"];
      w.ppl = std::max(w.ppl, std::fabs(py - px) / px);
      w.nll = std::max(w.nll, std::fabs(y["mean_nll"].get<double>() - x["mean_nll"].get<double>()));
      if (!x["longppl"].is_null()) {
        EXPECT_FALSE(y["longppl"].is_null());
        if (!y["longppl"].is_null())
          w.ppl = std::max(w.ppl, std::fabs(y["longppl"].get<double>() - x["longppl"].get<double>()) /
                                      x["longppl"].get<double>());
      }
      const json &bx = x["buckets"], &by = y["buckets"];
      EXPECT_EQ(bx.size(), by.size());
      for (size_t k = 0; k < std::min(bx.size(), by.size()); ++k)
        w.nll = std::max(w.nll, std::fabs(by[k]["mean"].get<double>() - bx[k]["mean"].get<double>()));
    }
  }
  EXPECT_LE(w.nll, kNllTolerance);
  EXPECT_LE(w.ppl, 10 * kNllTolerance);  // exp: relative ppl change ~ the NLL change
  return w;
}

TEST(EvalCliContextParallel, PplMatchesOneProcess) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path dir = temp_dir("match");
  {
    std::ifstream in(kData + "/text/pg11.txt");
    std::string novel(4500, '\0');  // ~1,400 tokens: 2 samples of 509, 10 chunks of 130
    in.read(novel.data(), static_cast<std::streamsize>(novel.size()));
    std::ofstream(dir / "novel.txt") << novel;
  }
  const std::string model = " --model " + kStories + " --text " + (dir / "novel.txt").string();
  struct Mode {
    const char* name;
    std::string flags;
  };
  // 130 and 509 are not multiples of 2K = 4; LongPPL's windows of 150 (moved by 75) are not
  // either; sliding windows of 70 moved by 31; llama-perplexity chunks of 130.
  const Mode modes[] = {
      {"prefix", " --rope model --rope dynamic:factor=2,original=128 --lengths 130,509 "
                 "--samples 2 --bucket 1 --longppl-window 150"},
      {"sliding", " --mode sliding --window 70 --stride 31 --lengths 201 --samples 1 --bucket 1 "
                  "--no-longppl"},
      {"llamacpp", " --mode llamacpp --ctx 130"},
  };
  for (const Mode& m : modes) {
    SCOPED_TRACE(m.name);
    const fs::path one = dir / (std::string(m.name) + "-one"), cp = dir / (std::string(m.name) + "-cp");
    auto r = run_longctx("eval ppl" + model + m.flags + " -o " + one.string(), 1);
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_shell(mpirun(2) + "eval ppl" + model + m.flags + " --context-parallel 2 -o " + cp.string());
    ASSERT_EQ(r.status, 0) << r.output;
    // Rank 0 alone prints and writes.
    EXPECT_NE(r.output.find("every sequence split over 2 MPI ranks"), std::string::npos) << r.output;
    size_t wrote = 0;
    for (size_t at = r.output.find("wrote "); at != std::string::npos; at = r.output.find("wrote ", at + 1))
      ++wrote;
    EXPECT_EQ(wrote, 1u) << r.output;
    auto files = [](const fs::path& d) {
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
      std::sort(names.begin(), names.end());
      return names;
    };
    EXPECT_EQ(files(cp), files(one));  // the same outputs (JSON, CSVs, plots)
    const Worst w = expect_same_ppl(read_json(one / "ppl.json"), read_json(cp / "ppl.json"));
    std::printf("  eval ppl %s, 1 process vs context parallel 2: worst per-position NLL difference "
                "%.2e (tolerance %.0e), worst relative perplexity difference %.2e\n",
                m.name, w.nll, kNllTolerance, w.ppl);
  }

  // Misuse: K ranks needed exactly, and mpirun with K = 1 would write twice.
  const std::string args = "eval ppl" + model + " --lengths 64 --samples 1 -o " + (dir / "bad").string();
  auto r = run_longctx(args + " --context-parallel 2", 1);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--context-parallel 2 needs exactly 2 MPI ranks"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not started by mpirun"), std::string::npos) << r.output;
  r = run_shell(mpirun(2) + args);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("give --context-parallel 2"), std::string::npos) << r.output;
  r = run_shell(mpirun(2) + args + " --context-parallel 3");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("--context-parallel 3 needs exactly 3 MPI ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad" / "ppl.json"));
}

// One rank throws while a key/value transfer is in flight (LONGCTX_RING_FAULT, the test
// hook of train/ring_attention.h): its peer waits for messages that never come unless the
// failing rank ends the job. `timeout` turns a hang into exit status 124.
TEST(EvalCliContextParallel, RankFailingMidRingEndsEveryRank) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path dir = temp_dir("fault");
  std::ofstream(dir / "story.txt") << [] {
    std::string s;
    for (int i = 0; i < 40; ++i) s += "Lily saw a big red ball in the park. She ran to it. ";
    return s;
  }();
  // stories260K has 5 layers, one exchange per layer in a forward with K = 2: exchange 3 is
  // in the first forward's third layer.
  const auto r = run_shell("timeout -k 10 120 " + mpirun(2, " -x LONGCTX_RING_FAULT=1:3") +
                           "eval ppl --model " + kStories + " --text " + (dir / "story.txt").string() +
                           " --lengths 200 --samples 1 --no-longppl --context-parallel 2 -o " +
                           (dir / "out").string());
  EXPECT_NE(r.status, 124) << "hung (killed by timeout):\n" << r.output;
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("longctx: error (rank 1): ring attention: fault injected on rank 1 at exchange 3"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("ending every rank"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "ppl.json"));
}

}  // namespace
