// train_step: training-step throughput of longctx's LLaMA (forward + backward +
// AdamW), model FLOPs utilisation against the best square GEMM (own or BLAS) measured in
// the same process and against the CPU's measured FMA ceiling, and peak resident memory.
// The matrix products run on the engine LONGCTX_MATMUL selects (own by default).
//
//   train_step --config tiny --seq 1024[,4096,...] [--batch 1] [--recompute 0|1]
//              [--steps 5] [--warmup 1] [--threads 2] [--breakdown] [--json out.jsonl]
//
// With several --seq values each runs in its own child process (this binary again),
// so every peak RSS is that T's own. MFU = model FLOPs/s / peak, with model FLOPs per
// token = 6 x (matmul weights incl. the output head, excl. the embedding) + 6 x L x C x T.
// The peak (best of square sgemm 2048) is measured before and after the steps; the
// larger is used. --breakdown also times each kernel class at the step's shapes
// (bench/step_breakdown.h) after the peak RSS has been read.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/fma_peak.h"
#include "kernels/gemm.h"
#include "kernels/platform.h"
#include "matmul_peak.h"
#include "model/config.h"
#include "model/llama.h"
#include "model/parameters.h"
#include "step_breakdown.h"
#include "train/flops.h"
#include "train/metrics.h"
#include "train/optimizer.h"

using namespace longctx;
using nlohmann::json;

namespace {

struct Options {
  std::string config = "tiny";
  std::vector<int64_t> seqs{1024};
  int64_t batch = 1;
  bool recompute = false;
  int steps = 5, warmup = 1, threads = 2;
  bool breakdown = false;
  double cap_gb = 20.0;  // address-space limit per child, so an oversized T fails, not the machine
  std::string json_path;
};

// One T, in this process.
json run_one(const Options& o, int64_t T) {
  set_num_threads(o.threads);
  model::ModelConfig cfg = model::preset_config(o.config);
  LONGCTX_CHECK(T >= 1, "train_step: --seq must be >= 1, got %ld", long(T));
  cfg.max_seq_len = std::max(cfg.max_seq_len, T);
  // MFU denominators: the best square GEMM of either engine (own or BLAS), measured before
  // and after the steps, and the CPU's FMA ceiling (kernels/fma_peak.h).
  auto best_gemm = [] {
    return std::max(bench::measure_peak_gflops(true, 0.5, nullptr, kernels::MatmulEngine::kOwn),
                    bench::measure_peak_gflops(true, 0.5, nullptr, kernels::MatmulEngine::kBlas));
  };
  const double peak_before = best_gemm();
  const kernels::FmaPeak fma = kernels::measure_fma_peak(0.3);

  model::LlamaModel m(cfg);
  model::init_weights(m, 1234);
  model::ParameterSet grads(cfg);
  train::AdamWOptions adam_options;
  adam_options.clip_norm = 0;  // the raw engine step: no gradient norm, no clipping
  train::AdamW optimizer(cfg, adam_options);
  model::TrainWorkspace ws;
  ws.prepare(cfg, o.batch, T,
             o.recompute ? model::WorkspaceLayout::kRecompute : model::WorkspaceLayout::kStoreAll);
  const int64_t N = o.batch * T;
  std::vector<int32_t> data(size_t(N + 1));
  std::mt19937 rng(5);
  for (auto& t : data) t = int32_t(rng() % uint32_t(cfg.vocab_size));
  std::vector<int32_t> tokens(data.begin(), data.end() - 1), targets(data.begin() + 1, data.end());
  model::StepOptions so;
  so.recompute = o.recompute;

  std::vector<double> fb_times, opt_times, step_times, cpu_times;
  double loss_first = 0, loss_last = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    Timer t;
    const double cpu_before = train::process_cpu_seconds();
    grads.zero();
    const kernels::LossSum ls =
        model::forward_backward(m, grads, tokens.data(), targets.data(), o.batch, T, so, ws);
    const double fb = t.seconds();
    Timer topt;
    optimizer.step(m.params, grads, 3e-4, /*grad_norm=*/0.0);
    const double opt = topt.seconds(), step = t.seconds();
    const double loss = ls.loss_sum / double(std::max<int64_t>(ls.n_valid, 1));
    if (s == 0) loss_first = loss;
    loss_last = loss;
    std::fprintf(stderr, "  %s T=%ld step %d (%s): %.3f s (fwd+bwd %.3f, adamw %.3f), loss %.4f\n",
                 o.config.c_str(), long(T), s, s < o.warmup ? "warm-up" : "timed", step, fb, opt,
                 loss);
    const double cpu = train::process_cpu_seconds() - cpu_before;
    if (s >= o.warmup) {
      fb_times.push_back(fb), opt_times.push_back(opt), step_times.push_back(step);
      cpu_times.push_back(cpu);
    }
  }
  const size_t rss = peak_rss_bytes();
  const double peak_after = best_gemm();
  const double peak = std::max(peak_before, peak_after);

  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double step_med = median(step_times);
  const double step_best = *std::min_element(step_times.begin(), step_times.end());
  const double flops_tok = train::model_flops_per_token(cfg, T);
  const double tok_s = double(N) / step_med;
  json r = {{"bench", "train_step"}, {"impl", "longctx"}, {"config", o.config}, {"seq", T},
            {"batch", o.batch}, {"recompute", o.recompute}, {"threads", o.threads},
            {"steps", o.steps}, {"warmup", o.warmup}, {"params", int64_t(m.params.size())},
            {"step_s_median", step_med}, {"step_s_best", step_best},
            {"step_cpu_s_median", median(cpu_times)},
            {"tokens_per_cpu_s", double(N) / median(cpu_times)},
            {"fwd_bwd_s_median", median(fb_times)}, {"adamw_s_median", median(opt_times)},
            {"tokens_per_s", tok_s}, {"tokens_per_s_best", double(N) / step_best},
            {"model_flops_per_token", flops_tok}, {"achieved_gflops", flops_tok * tok_s / 1e9},
            {"peak_gflops", peak}, {"peak_gflops_before", peak_before},
            {"peak_gflops_after", peak_after}, {"mfu", flops_tok * tok_s / 1e9 / peak},
            {"mfu_best", flops_tok * double(N) / step_best / 1e9 / peak},
            {"fma_peak_gflops", fma.gflops},
            {"mfu_vs_fma_peak", flops_tok * tok_s / 1e9 / fma.gflops},
            {"matmul_engine", kernels::matmul_engine_name(kernels::matmul_engine())},
            {"matmul_precision", kernels::matmul_precision_name(kernels::matmul_precision())},
            {"loss_first", loss_first}, {"loss_last", loss_last},
            {"workspace_bytes", ws.bytes()}, {"peak_rss_bytes", rss},
            {"platform", kernels::platform_json()}};
  if (o.breakdown) {
    const bench::StepBreakdown b = bench::measure_step_breakdown(cfg, o.batch, T, o.recompute);
    const double fb = median(fb_times);
    r["breakdown"] = {{"matmul_s", b.matmul_s},
                      {"attention_s", b.attention_s},
                      {"head_loss_s", b.head_loss_s},
                      {"elementwise_s", b.elementwise_s},
                      {"kernels_total_s", b.total()},
                      {"model_overhead_s", fb - b.total()},
                      {"adamw_s", median(opt_times)},
                      {"matmul_gflops", b.layer_matmul_flops / b.matmul_s / 1e9},
                      {"attention_gflops", b.attention_flops / b.attention_s / 1e9},
                      {"head_gflops", b.head_matmul_flops / b.head_loss_s / 1e9}};
  }
  return r;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  LONGCTX_CHECK(n > 0, "train_step: cannot read /proc/self/exe");
  buf[n] = 0;
  return buf;
}

// Runs this binary for one T with an address-space cap; returns its JSON line.
json run_child(const Options& o, int64_t T) {
  int fds[2];
  LONGCTX_CHECK(pipe(fds) == 0, "train_step: pipe failed");
  const pid_t pid = fork();
  LONGCTX_CHECK(pid >= 0, "train_step: fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const rlim_t cap = rlim_t(o.cap_gb * double(1ull << 30));
    rlimit rl{cap, cap};
    setrlimit(RLIMIT_AS, &rl);
    const std::string exe = self_exe(), seq = std::to_string(T);
    const std::string batch = std::to_string(o.batch), steps = std::to_string(o.steps);
    const std::string warm = std::to_string(o.warmup), thr = std::to_string(o.threads);
    std::vector<const char*> argv = {exe.c_str(), "--child", "--config", o.config.c_str(),
                                     "--seq", seq.c_str(), "--batch", batch.c_str(),
                                     "--recompute", o.recompute ? "1" : "0", "--steps",
                                     steps.c_str(), "--warmup", warm.c_str(), "--threads",
                                     thr.c_str()};
    if (o.breakdown) argv.push_back("--breakdown");
    argv.push_back(nullptr);
    execv(exe.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream lines(out);
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == '{') last = line;
  if (!last.empty()) return json::parse(last);
  return {{"bench", "train_step"}, {"impl", "longctx"}, {"config", o.config}, {"seq", T},
          {"recompute", o.recompute}, {"ok", false},
          {"error", strformat("child exited with status %d (signal %d) and no result",
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                              WIFSIGNALED(status) ? WTERMSIG(status) : 0)}};
}

std::vector<int64_t> parse_seqs(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t pos = 0;
    long long x = 0;
    try {
      x = std::stoll(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    LONGCTX_CHECK(pos == item.size() && x >= 1, "train_step: bad --seq value '%s'", item.c_str());
    v.push_back(x);
  }
  LONGCTX_CHECK(!v.empty(), "train_step: --seq is empty");
  return v;
}

void print_table(const std::vector<json>& rows) {
  std::printf("%-6s %6s %4s %6s %10s %9s %7s %9s %8s %10s\n", "config", "T", "B", "recomp",
              "step s", "tok/s", "MFU", "peak GF", "MFU/FMA", "peak RSS");
  for (const json& r : rows) {
    if (r.contains("error")) {
      std::printf("%-6s %6ld  FAILED: %s\n", r["config"].get<std::string>().c_str(),
                  long(r["seq"].get<int64_t>()), r["error"].get<std::string>().c_str());
      continue;
    }
    std::printf("%-6s %6ld %4ld %6s %10.3f %9.1f %6.1f%% %9.1f %7.1f%% %7.2f GiB\n",
                r["config"].get<std::string>().c_str(), long(r["seq"].get<int64_t>()),
                long(r["batch"].get<int64_t>()), r["recompute"].get<bool>() ? "on" : "off",
                r["step_s_median"].get<double>(), r["tokens_per_s"].get<double>(),
                100.0 * r["mfu"].get<double>(), r["peak_gflops"].get<double>(),
                100.0 * r["mfu_vs_fma_peak"].get<double>(),
                r["peak_rss_bytes"].get<double>() / double(1ull << 30));
    if (r.contains("breakdown")) {
      const json& b = r["breakdown"];
      std::printf("         breakdown: matmul %.3f s (%.0f GF/s), attention %.3f s (%.0f GF/s), "
                  "head+loss %.3f s (%.0f GF/s), elementwise %.3f s, model overhead %.3f s, "
                  "adamw %.3f s\n",
                  b["matmul_s"].get<double>(), b["matmul_gflops"].get<double>(),
                  b["attention_s"].get<double>(), b["attention_gflops"].get<double>(),
                  b["head_loss_s"].get<double>(), b["head_gflops"].get<double>(),
                  b["elementwise_s"].get<double>(), b["model_overhead_s"].get<double>(),
                  b["adamw_s"].get<double>());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool child = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        LONGCTX_CHECK(i + 1 < argc, "train_step: %s needs a value", a.c_str());
        return argv[++i];
      };
      auto int_value = [&]() {
        const std::string v = value();
        try {
          return std::stoi(v);
        } catch (const std::exception&) {
          throw_error("train_step: %s needs an integer, got '%s'", a.c_str(), v.c_str());
        }
      };
      if (a == "--config") o.config = value();
      else if (a == "--seq") o.seqs = parse_seqs(value());
      else if (a == "--batch") o.batch = int_value();
      else if (a == "--recompute") o.recompute = int_value() != 0;
      else if (a == "--steps") o.steps = int_value();
      else if (a == "--warmup") o.warmup = int_value();
      else if (a == "--threads") o.threads = int_value();
      else if (a == "--cap-gb") o.cap_gb = std::stod(value());
      else if (a == "--breakdown") o.breakdown = true;
      else if (a == "--json") o.json_path = value();
      else if (a == "--child") child = true;
      else
        throw_error("train_step: unknown flag '%s' (known: --config --seq --batch --recompute "
                    "--steps --warmup --threads --cap-gb --breakdown --json)", a.c_str());
    }
    LONGCTX_CHECK(o.steps >= 1 && o.warmup >= 0 && o.batch >= 1 && o.threads >= 1,
                  "train_step: --steps, --batch, --threads must be >= 1 and --warmup >= 0");
    model::preset_config(o.config);  // throws naming an unknown preset
    if (child) {
      std::printf("%s\n", run_one(o, o.seqs.at(0)).dump().c_str());
      return 0;
    }
    std::vector<json> rows;
    for (int64_t T : o.seqs) {
      std::fprintf(stderr, "train_step %s T=%ld B=%ld recompute=%d\n", o.config.c_str(), long(T),
                   long(o.batch), int(o.recompute));
      rows.push_back(run_child(o, T));
    }
    print_table(rows);
    std::ofstream f;
    if (!o.json_path.empty()) {
      f.open(o.json_path, std::ios::app);
      LONGCTX_CHECK(f.good(), "train_step: cannot write --json '%s'", o.json_path.c_str());
    }
    for (const json& r : rows) {
      std::printf("%s\n", r.dump().c_str());
      if (f.is_open()) f << r.dump() << "\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
