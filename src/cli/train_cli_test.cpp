// `longctx train` and `longctx extend` run as a user would: training from scratch lowers the
// validation loss; a run killed with SIGKILL (at an arbitrary step and during a checkpoint
// write) and re-run gives the uninterrupted loss curve bit for bit; SIGTERM checkpoints and
// exits cleanly; divergence stops at the step; another configuration is refused; extend
// carries the new position encoding into final/config.json and final.gguf; two MPI ranks
// match one process; a short-to-long curriculum switches window inside one run (same schedule
// and tokens per step, validation at the final window) and resumes bit-identically across the
// switch.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io/checkpoint.h"
#include "io/model_io.h"
#include "rope/rope_spec.h"
#include "train/test_shards.h"

namespace {
namespace fs = std::filesystem;
using longctx::train::testing::temp_dir;
using nlohmann::json;

struct CliRun {
  int status;
  std::string out;
};

CliRun run_shell(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

CliRun run(const std::string& args) {
  return run_shell(std::string(LONGCTX_BINARY) + " " + args);
}

// A child running `longctx args...` with stderr on a pipe, read line by line.
struct Child {
  pid_t pid = -1;
  FILE* err = nullptr;
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv{const_cast<char*>(LONGCTX_BINARY)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(LONGCTX_BINARY, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err = ::fdopen(fds[0], "r");
  }
  // Reads lines until one starts with `prefix`; false at end of output.
  bool wait_for_line(const std::string& prefix) {
    char line[4096];
    while (std::fgets(line, sizeof line, err))
      if (std::string(line).rfind(prefix, 0) == 0) return true;
    return false;
  }
  int finish() {  // exit status, or 128 + signal
    char line[4096];
    while (std::fgets(line, sizeof line, err)) {
    }  // drain, so the child never writes into a closed pipe
    std::fclose(err);
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
};

std::vector<std::string> split_args(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> v;
  std::string a;
  while (in >> a) v.push_back(a);
  return v;
}

std::vector<json> read_metrics(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.jsonl");
  std::vector<json> lines;
  std::string text;
  while (std::getline(in, text)) lines.push_back(json::parse(text));
  return lines;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The numbers that define a loss curve, per line (timings excluded).
void expect_same_curve(const std::vector<json>& a, const std::vector<json>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (const char* key :
         {"step", "loss", "lr", "grad_norm", "clip_scale", "tokens", "val_loss"}) {
      ASSERT_EQ(a[i].contains(key), b[i].contains(key)) << "line " << i << " " << key;
      if (a[i].contains(key)) {
        EXPECT_EQ(a[i][key], b[i][key]) << "line " << i << " " << key;
      }
    }
}

// Two runs of the same global batch computed in different layouts (processes, ranks,
// context parallelism): losses, gradient norms and validation losses must agree within
// `tolerance` (relative) at every line. Returns the worst relative difference.
double expect_close_curves(const std::vector<json>& a, const std::vector<json>& b,
                           double tolerance) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    for (const char* key : {"loss", "grad_norm", "val_loss"}) {
      if (!a[i].contains(key)) continue;
      EXPECT_TRUE(b[i].contains(key)) << "line " << i << " " << key;
      if (!b[i].contains(key)) continue;
      const double x = a[i][key], y = b[i][key];
      const double rel = std::abs(x - y) / std::max(std::abs(x), 1e-12);
      worst = std::max(worst, rel);
      EXPECT_LT(rel, tolerance) << "line " << i << " " << key << ": " << x << " vs " << y;
    }
  return worst;
}

const fs::path& shards() {
  static const fs::path dir = [] {
    const fs::path d = temp_dir("shards");
    longctx::train::testing::write_counting_shards(d, {});
    return d;
  }();
  return dir;
}

std::string common_flags(const fs::path& out, int steps) {
  return "--model-config test --data " + shards().string() + " --seq 64 --steps " +
         std::to_string(steps) + " --lr 1e-2 --warmup 2 --threads 1 --peak-gflops 50 --out " +
         out.string();
}

TEST(TrainCli, FromScratchValidationLossFallsAndRerunResumes) {
  const fs::path out = temp_dir("scratch") / "run";
  const std::string cmd = "train " + common_flags(out, 40) +
                          " --eval-every 20 --save-every 10 --keep 2 --micro-batch 4";
  CliRun r = run(cmd);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<json> m = read_metrics(out);
  ASSERT_EQ(m.size(), 41u);  // step 0 (validation only) and 40 steps
  const double v0 = m.front()["val_loss"], v40 = m.back()["val_loss"];
  std::printf("  validation loss %.3f -> %.3f\n", v0, v40);
  EXPECT_NEAR(v0, std::log(64.0), 0.3);
  EXPECT_LT(v40, 0.5 * v0);  // counting documents are learnable in context
  for (const char* f : {"config.toml", "loss.svg", "final/config.json", "final/model.safetensors"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(longctx::io::list_checkpoints(out.string()).size(), 2u);  // --keep 2
  EXPECT_TRUE(m[5].contains("tokens_per_s") && m[5].contains("mfu") &&
              m[5].contains("peak_rss_bytes"));

  // The same command again resumes at step 40: nothing to train, the curve unchanged.
  r = run(cmd);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  expect_same_curve(read_metrics(out), m);
  // Another learning rate on the same RUN is refused, naming the key.
  r = run("train " + common_flags(out, 40) + " --lr 1e-3 --eval-every 20");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("lr (RUN has '0.01', this command '0.001')"), std::string::npos) << r.out;
  // --resume on an empty folder is refused.
  r = run("train " + common_flags(out.parent_path() / "empty", 5) + " --resume");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--resume"), std::string::npos) << r.out;
}

// --matmul-precision bf16: the products take bf16 operands (fp32 accumulation and master
// weights); the run still learns, says so, and records the key. The fp32 run's curve is
// not reproduced (the rounding is real), but it stays close (5% on this 20-step run).
TEST(TrainCli, Bf16MatrixProductsLearnAndAreRecorded) {
  const fs::path root = temp_dir("bf16");
  CliRun r = run("train " + common_flags(root / "bf16", 20) + " --eval-every 20 --micro-batch 4 " +
                 "--matmul-precision bf16");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("bf16 operands"), std::string::npos) << r.out;
  std::ifstream toml(root / "bf16" / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(toml)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("matmul-precision = \"bf16\""), std::string::npos) << text;
  r = run("train " + common_flags(root / "fp32", 20) + " --eval-every 20 --micro-batch 4");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::vector<json> b = read_metrics(root / "bf16"), f = read_metrics(root / "fp32");
  ASSERT_EQ(b.size(), f.size());
  const double vb = b.back()["val_loss"], vf = f.back()["val_loss"], v0 = f.front()["val_loss"];
  std::printf("  validation loss %.4f -> fp32 %.4f, bf16 %.4f\n", v0, vf, vb);
  EXPECT_LT(vb, 0.7 * v0);
  EXPECT_NE(vb, vf);
  EXPECT_NEAR(vb, vf, 0.05 * vf);
  // Continuing the run in another precision is allowed (a machine with other hardware),
  // with the warning that the curve is no longer bit-identical.
  r = run("train " + common_flags(root / "bf16", 20) + " --eval-every 20 --micro-batch 4");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("matmul-precision (RUN has 'bf16', this command 'fp32')"),
            std::string::npos)
      << r.out;
}

// Kills the run when a checkpoint folder starts being written (its .tmp appears), returning
// whether the kill left the half-written folder behind (it landed during the write).
bool kill_during_checkpoint_write(const fs::path& out, const std::string& args) {
  fs::create_directories(out);
  const int fd = ::inotify_init();
  ::inotify_add_watch(fd, out.c_str(), IN_CREATE);
  Child c(split_args(args));
  bool killed = false;
  alignas(inotify_event) char buf[4096];
  while (!killed) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + i);
      const std::string name = ev->len ? ev->name : "";
      if (!killed && name.rfind(".checkpoint-", 0) == 0 && name.find(".tmp") != std::string::npos) {
        ::kill(c.pid, SIGKILL);
        killed = true;
      }
      i += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  ::close(fd);
  EXPECT_EQ(c.finish(), 128 + SIGKILL);
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename().string().rfind(".checkpoint-", 0) == 0) return true;
  return false;
}

TEST(TrainCli, SigkillAnywhereResumesBitIdentical) {
  const fs::path base = temp_dir("sigkill");
  const std::string flags = " --eval-every 8 --save-every 8 --micro-batch 2 --batch-tokens 256";
  const fs::path ref = base / "reference", out = base / "killed";
  CliRun r = run("train " + common_flags(ref, 120) + flags);
  ASSERT_EQ(r.status, 0) << r.out;

  const std::string args = "train " + common_flags(out, 120) + flags;
  {  // 1. SIGKILL at an arbitrary moment: once step 13 has been reported.
    Child c(split_args(args));
    ASSERT_TRUE(c.wait_for_line("step 13/120"));
    ::kill(c.pid, SIGKILL);
    ASSERT_EQ(c.finish(), 128 + SIGKILL);
  }
  // 2. SIGKILL while a checkpoint is being written (retried if a write won the race).
  int mid_write = 0;
  for (int attempt = 0; attempt < 3 && mid_write == 0; ++attempt)
    mid_write += kill_during_checkpoint_write(out, args);
  EXPECT_GE(mid_write, 1) << "no kill landed inside a checkpoint write";
  // 3. Re-run to the end.
  r = run(args);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos);
  expect_same_curve(read_metrics(out), read_metrics(ref));
  EXPECT_EQ(file_bytes(out / "final/model.safetensors"),
            file_bytes(ref / "final/model.safetensors"));
  for (const auto& e : fs::directory_iterator(out))  // stray temporaries were cleaned
    EXPECT_NE(e.path().filename().string().rfind(".checkpoint-", 0), 0u) << e.path();
}

TEST(TrainCli, SigtermCheckpointsAndExitsCleanly) {
  const fs::path out = temp_dir("sigterm") / "run";
  const std::string args = "train " + common_flags(out, 400) + " --save-every 1000 --eval-every 0";
  Child c(split_args(args));
  ASSERT_TRUE(c.wait_for_line("step 5/400"));
  ::kill(c.pid, SIGTERM);
  EXPECT_EQ(c.finish(), 0);
  const auto ckpts = longctx::io::list_checkpoints(out.string());
  ASSERT_EQ(ckpts.size(), 1u);
  const int64_t step = longctx::io::load_checkpoint(ckpts.back()).step;
  EXPECT_GE(step, 5);
  EXPECT_LT(step, 400);
  EXPECT_EQ(static_cast<int64_t>(read_metrics(out).size()), step);
}

TEST(TrainCli, DivergenceStopsNamingTheStepAndKeepsTheLastCheckpoint) {
  const fs::path out = temp_dir("diverge") / "run";
  const CliRun r = run("train --model-config test --data " + shards().string() +
                       " --seq 64 --steps 20 --lr 1e30 --clip 0 --warmup 0 --save-every 1 "
                       "--eval-every 0 --threads 1 --peak-gflops 50 --out " +
                       out.string());
  EXPECT_EQ(r.status, 2) << r.out;
  const size_t at = r.out.find("diverged at step ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const int64_t step = std::stoll(r.out.substr(at + 17));
  const auto ckpts = longctx::io::list_checkpoints(out.string());
  ASSERT_FALSE(ckpts.empty());
  EXPECT_EQ(longctx::io::load_checkpoint(ckpts.back()).step, step - 1);
  EXPECT_NE(r.out.find(ckpts.back()), std::string::npos) << r.out;
}

TEST(TrainCli, ExtendCarriesTheNewEncodingIntoHfAndGguf) {
  const fs::path base = temp_dir("extend");
  CliRun r = run("train " + common_flags(base / "short", 6) + " --eval-every 0");
  ASSERT_EQ(r.status, 0) << r.out;
  // 8x the length with ABF, through a TOML config for some of the flags.
  std::ofstream(base / "extend.toml") << "steps = 3\nwarmup = 1\neval-every = 0\nthreads = 1\n";
  r = run("extend --from " + (base / "short").string() +
          " --rope abf:base=500000 --seq 512 --data " + shards().string() +
          " --gguf --peak-gflops 50 --config " + (base / "extend.toml").string() + " --out " +
          (base / "long").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const json cfg = json::parse(file_bytes(base / "long/final/config.json"));
  EXPECT_EQ(cfg["rope_theta"].get<double>(), 500000.0);
  EXPECT_EQ(cfg["max_position_embeddings"].get<int64_t>(), 512);
  const auto gguf = longctx::io::load_model((base / "long/final.gguf").string());
  EXPECT_EQ(gguf.model.config.rope, longctx::rope::parse_rope_spec("abf:base=500000"));
  EXPECT_EQ(gguf.model.config.max_seq_len, 512);
  const std::string toml = file_bytes(base / "long/config.toml");
  EXPECT_NE(toml.find("lr = 2e-05"), std::string::npos) << toml;  // the paper's default
  EXPECT_NE(toml.find("steps = 3"), std::string::npos) << toml;
  // PoSE: a 64-token window reaching 512 positions.
  r = run("extend --from " + (base / "short").string() +
          " --rope abf:base=500000 --seq 64 "
          "--pose-target 512 --steps 3 --eval-every 0 --threads 1 --peak-gflops 50 --data " +
          shards().string() + " --out " + (base / "pose").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(file_bytes(base / "pose/final/config.json"))["max_position_embeddings"],
            512);
  // xPos ABF (the paper's fourth variant): checkpoints and the final folder carry it exactly
  // (under longctx's own rope_type); GGUF cannot, which --gguf reports before training.
  const std::string xpos_flags = "extend --from " + (base / "short").string() +
                                 " --rope xpos:base=500000 --seq 128 --steps 2 --save-every 1"
                                 " --eval-every 0 --threads 1 --peak-gflops 50 --data " +
                                 shards().string();
  r = run(xpos_flags + " --gguf --out " + (base / "xpos_gguf").string());
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("--gguf"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(base / "xpos_gguf" / "metrics.jsonl")) << "trained before refusing";
  r = run(xpos_flags + " --out " + (base / "xpos").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const auto xpos = longctx::io::load_model((base / "xpos/final").string());
  EXPECT_EQ(xpos.model.config.rope, longctx::rope::parse_rope_spec("xpos:base=500000"));
  EXPECT_EQ(longctx::io::list_checkpoints((base / "xpos").string()).size(), 2u);
}

TEST(TrainCli, MpiTwoRanksMatchOneProcessAndResume) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path base = temp_dir("mpi");
  const std::string flags = " --batch-tokens 256 --eval-every 5 --save-every 5";
  CliRun one = run("train " + common_flags(base / "one", 15) + flags);
  ASSERT_EQ(one.status, 0) << one.out;
  const std::string mpirun = "mpirun --allow-run-as-root --oversubscribe -np 2 " +
                             std::string(LONGCTX_BINARY) + " train ";
  const CliRun two = run_shell(mpirun + common_flags(base / "two", 15) + flags);
  ASSERT_EQ(two.status, 0) << two.out;
  const std::string& out = two.out;
  EXPECT_NE(out.find("2 rank(s)"), std::string::npos) << out;
  // Same data and global batch; only the order of the gradient sums differs (one process
  // accumulates 4 micro-batches in turn, two ranks sum two partial gradients each).
  const double kTolerance = 1e-5;  // relative, on losses and gradient norms (seen: ~5e-8)
  const double worst =
      expect_close_curves(read_metrics(base / "one"), read_metrics(base / "two"), kTolerance);
  std::printf("  1 process vs 2 MPI ranks: worst relative difference %.2e (tolerance %.0e)\n",
              worst, kTolerance);
  EXPECT_EQ(longctx::io::list_checkpoints((base / "two").string()).size(), 3u);
  // Killed after its step-10 checkpoint (simulated by dropping the later one), the 2-rank run
  // resumes under mpirun and reproduces its own curve bit for bit.
  const std::vector<json> before = read_metrics(base / "two");
  fs::remove_all(longctx::io::list_checkpoints((base / "two").string()).back());
  const CliRun again = run_shell(mpirun + common_flags(base / "two", 15) + flags);
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("resuming"), std::string::npos) << again.out;
  expect_same_curve(read_metrics(base / "two"), before);
}

// Context parallelism (--context-parallel 2): each sequence split over two ranks with ring
// attention, alone (2 ranks) and with data parallelism (2 x 2 ranks), against one process with
// the same global batch (two micro-batches per step, packed documents with the document
// mask, validation every 3 steps).
TEST(TrainCli, ContextParallelMatchesOneProcess) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path base = temp_dir("context");
  const std::string flags = " --batch-tokens 128 --eval-every 3 --save-every 3";
  const CliRun one = run("train " + common_flags(base / "one", 6) + flags);
  ASSERT_EQ(one.status, 0) << one.out;
  auto mpirun = [](int ranks) {
    return "mpirun --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) + " " +
           std::string(LONGCTX_BINARY) + " train ";
  };
  const CliRun two =
      run_shell(mpirun(2) + common_flags(base / "cp2", 6) + flags + " --context-parallel 2");
  ASSERT_EQ(two.status, 0) << two.out;
  EXPECT_NE(two.out.find("1 data group(s) x 2 context ranks, 32 tokens"), std::string::npos)
      << two.out;
  const CliRun four =
      run_shell(mpirun(4) + common_flags(base / "cp2x2", 6) + flags + " --context-parallel 2");
  ASSERT_EQ(four.status, 0) << four.out;
  EXPECT_NE(four.out.find("2 data group(s) x 2 context ranks"), std::string::npos) << four.out;
  // The ring merges partial softmaxes and sums dk/dv in another order (fp32 rounding).
  const double kTolerance = 1e-5;
  const std::vector<json> a = read_metrics(base / "one");
  const double w2 = expect_close_curves(a, read_metrics(base / "cp2"), kTolerance);
  const double w4 = expect_close_curves(a, read_metrics(base / "cp2x2"), kTolerance);
  std::printf(
      "  1 process vs context parallel 2 / 2x2 ranks: worst relative difference "
      "%.2e / %.2e (tolerance %.0e)\n",
      w2, w4, kTolerance);
  // Killed after its step-3 checkpoint (simulated by dropping the later one), the context
  // parallel run resumes under mpirun and reproduces its own curve bit for bit.
  const std::vector<json> before = read_metrics(base / "cp2");
  ASSERT_EQ(longctx::io::list_checkpoints((base / "cp2").string()).size(), 2u);
  fs::remove_all(longctx::io::list_checkpoints((base / "cp2").string()).back());
  const CliRun again = run_shell(mpirun(2) + common_flags(base / "cp2", 6) + flags +
                                 " --context-parallel 2");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("resuming"), std::string::npos) << again.out;
  expect_same_curve(read_metrics(base / "cp2"), before);
  const std::vector<json> m = read_metrics(base / "cp2");
  ASSERT_GE(m.size(), 2u);
  EXPECT_GT(m[1].value("ring_bytes_sent", int64_t{0}), 0) << m[1].dump();
  EXPECT_TRUE(m[1].contains("ring_wait_s") && m[1].contains("peak_rss_max_bytes")) << m[1].dump();
  // Misuse is refused with the flag named: K must divide the ranks, 2K the sequence.
  CliRun r = run("train " + common_flags(base / "bad", 2) + " --context-parallel 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--context-parallel 2 does not divide the 1 MPI ranks"), std::string::npos)
      << r.out;
  r = run("train " + common_flags(base / "bad", 2) + " --context-parallel 3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--seq: 64 is not a multiple of 2 x --context-parallel = 6"),
            std::string::npos)
      << r.out;
}

// A rank that fails while a transfer is in flight (here rank 0 in the first backward: the
// test model's 2 layers make exchanges 1-2 the forward's, LONGCTX_RING_FAULT is the hook of
// train/ring_attention.h) ends every rank with its error printed; `timeout` turns a hang
// into exit status 124 and a failed test.
TEST(TrainCli, ContextParallelRankFailingMidRingEndsEveryRank) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path base = temp_dir("context-fault");
  const CliRun r = run_shell(
      "timeout -k 10 120 mpirun --allow-run-as-root --oversubscribe -np 2 -x LONGCTX_RING_FAULT=0:3 " +
      std::string(LONGCTX_BINARY) + " train " + common_flags(base / "run", 4) +
      " --eval-every 0 --context-parallel 2");
  EXPECT_NE(r.status, 124) << "hung (killed by timeout):\n" << r.out;
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("longctx: error (rank 0): ring attention: fault injected on rank 0 at exchange 3"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ending every rank"), std::string::npos) << r.out;
}

// `extend` end to end with --context-parallel 2 (the acceptance run, at test scale):
// a new position encoding, a longer window, PoSE positions reaching 4x the window, the final
// model written; its curve equals one process's.
TEST(TrainCli, ExtendWithContextParallel) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const fs::path base = temp_dir("extend-cp");
  CliRun r = run("train " + common_flags(base / "short", 4) + " --eval-every 0");
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string flags =
      " --rope abf:base=500000 --seq 128 --pose-target 512 --steps 4 "
      "--warmup 1 --eval-every 2 --threads 1 --peak-gflops 50 --data " +
      shards().string() + " --from " + (base / "short").string();
  r = run("extend" + flags + " --out " + (base / "one").string());
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_shell("mpirun --allow-run-as-root --oversubscribe -np 2 " + std::string(LONGCTX_BINARY) +
                " extend" + flags + " --context-parallel 2 --gguf --out " + (base / "cp").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const double worst =
      expect_close_curves(read_metrics(base / "one"), read_metrics(base / "cp"), 1e-5);
  std::printf("  extend, 1 process vs context parallel 2: worst relative difference %.2e\n", worst);
  const json config = json::parse(file_bytes(base / "cp/final/config.json"));
  EXPECT_EQ(config["max_position_embeddings"], 512);
  EXPECT_EQ(config["rope_theta"], 500000.0);
  EXPECT_TRUE(fs::exists(base / "cp/final.gguf"));
  EXPECT_NE(file_bytes(base / "cp/config.toml").find("context-parallel = 2"), std::string::npos);
}

// The curriculum (--short-seq 16 --short-share 0.5 of 12 steps at --seq 64): steps 1-6 train
// at 16 tokens (16 micro-batches per step), 7-12 at 64 (4), 256 tokens per step in both. The
// learning rate and the validation at step 0 are those of a run without curriculum (one
// schedule; validation at the final window), train_flops grows faster after the switch, and
// the run resumed from a checkpoint before, at or after the switch, or re-run after a SIGKILL,
// gives the uninterrupted curve and final model bit for bit.
TEST(TrainCli, CurriculumSwitchesWindowAndResumesBitIdentical) {
  const fs::path base = temp_dir("curriculum");
  const std::string flags = " --batch-tokens 256 --eval-every 4 --save-every 2 --keep 10";
  const std::string curriculum = " --short-seq 16 --short-share 0.5";
  CliRun r = run("train " + common_flags(base / "plain", 12) + flags);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::string args = "train " + common_flags(base / "ref", 12) + flags + curriculum;
  r = run(args);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("curriculum: steps 1-6 at window 16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 7: switching to window 64"), std::string::npos) << r.out;
  const std::vector<json> plain = read_metrics(base / "plain"), ref = read_metrics(base / "ref");
  ASSERT_EQ(ref.size(), 13u);
  ASSERT_EQ(plain.size(), 13u);
  EXPECT_EQ(ref[0]["val_loss"], plain[0]["val_loss"]);  // same model, validated at 64
  double flops_before = 0, last_increment = 0;
  for (size_t i = 1; i < ref.size(); ++i) {
    const json& m = ref[i];
    EXPECT_EQ(m["seq"], i <= 6 ? 16 : 64) << m.dump();
    EXPECT_EQ(plain[i]["seq"], 64);
    EXPECT_EQ(m["lr"], plain[i]["lr"]) << "step " << i;
    EXPECT_EQ(m["tokens"], plain[i]["tokens"]) << "step " << i;
    const double flops = m["train_flops"], increment = flops - flops_before;
    if (i == 7) {
      EXPECT_GT(increment, last_increment);
      std::printf("  train_flops per step: %.4g at window 16, %.4g at 64\n", last_increment,
                  increment);
    } else if (i > 1) {
      EXPECT_DOUBLE_EQ(increment, last_increment) << "step " << i;
    }
    if (i > 6) {
      EXPECT_DOUBLE_EQ(plain[i]["train_flops"].get<double>(), double(i) * increment);
    }
    flops_before = flops, last_increment = increment;
  }
  const std::string toml = file_bytes(base / "ref/config.toml");
  for (const char* key : {"short-seq = 16", "short-share = 0.5", "short-rope = \"\""})
    EXPECT_NE(toml.find(key), std::string::npos) << toml;
  // --short-rope: a short-phase checkpoint carries the short encoding, the final model the
  // run's; the resumed long phase trains with the run's again (train without --rope: the
  // model config's, RoPE base 10000).
  r = run("train " + common_flags(base / "rope", 4) +
          " --eval-every 0 --save-every 1 --short-seq 32 --short-share 0.5 "
          "--short-rope abf:base=20000");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(json::parse(file_bytes(base / "rope/checkpoint-00000002/config.json"))["rope_theta"],
            20000.0);
  EXPECT_EQ(json::parse(file_bytes(base / "rope/checkpoint-00000003/config.json"))["rope_theta"],
            10000.0);
  EXPECT_EQ(json::parse(file_bytes(base / "rope/final/config.json"))["rope_theta"], 10000.0);
  const std::vector<json> rope_curve = read_metrics(base / "rope");
  const std::string rope_model = file_bytes(base / "rope/final/model.safetensors");
  fs::remove_all(base / "rope/final");
  for (const char* c : {"rope/checkpoint-00000003", "rope/checkpoint-00000004"})
    fs::remove_all(base / c);
  r = run("train " + common_flags(base / "rope", 4) +
          " --eval-every 0 --save-every 1 --short-seq 32 --short-share 0.5 "
          "--short-rope abf:base=20000");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_same_curve(read_metrics(base / "rope"), rope_curve);
  EXPECT_EQ(file_bytes(base / "rope/final/model.safetensors"), rope_model);

  // Resumed from the checkpoint of step 4 (before the switch), 6 (the last short step) and 8
  // (after it): later checkpoints and the final model dropped, as if killed there.
  for (int from : {4, 6, 8}) {
    const fs::path out = base / ("resumed-" + std::to_string(from));
    fs::copy(base / "ref", out, fs::copy_options::recursive);
    fs::remove_all(out / "final");
    for (const std::string& c : longctx::io::list_checkpoints(out.string()))
      if (longctx::io::load_checkpoint(c).step > from) fs::remove_all(c);
    r = run("train " + common_flags(out, 12) + flags + curriculum);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
    expect_same_curve(read_metrics(out), ref);
    EXPECT_EQ(file_bytes(out / "final/model.safetensors"),
              file_bytes(base / "ref/final/model.safetensors"))
        << "resumed after step " << from;
  }
  {  // A real SIGKILL in the long phase, then the same command again.
    const fs::path out = base / "killed";
    Child c(split_args("train " + common_flags(out, 12) + flags + curriculum));
    ASSERT_TRUE(c.wait_for_line("step 9/12"));
    ::kill(c.pid, SIGKILL);
    c.finish();
    r = run("train " + common_flags(out, 12) + flags + curriculum);
    ASSERT_EQ(r.status, 0) << r.out;
    expect_same_curve(read_metrics(out), ref);
  }
  // The curriculum is part of the run's identity; bad combinations name the flags.
  r = run("train " + common_flags(base / "ref", 12) + flags);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("short-seq (RUN has '16', this command '0')"), std::string::npos) << r.out;
  r = run("train " + common_flags(base / "bad", 12) + " --batch-tokens 128 --short-seq 48");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--batch-tokens 128 must be a multiple of both --short-seq"),
            std::string::npos)
      << r.out;
  r = run("train " + common_flags(base / "bad", 12) + " --short-seq 64 --short-share 0.5");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--short-seq: the short window must be in [2, --seq)"), std::string::npos)
      << r.out;
}

}  // namespace
