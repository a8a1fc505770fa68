// eval_forward: throughput and peak memory of the evaluation forward (`longctx eval ppl`'s
// path: eval::TokenScorer over model/forward_long.h, per-token losses through the fused
// head) on a randomly initialised preset model at one sequence length per process.
//
//   eval_forward --config tiny|small --seq 32768 [--repeats 1] [--threads 2] [--json out.jsonl]
//                [--path long|training]   (training: model::forward_loss, for comparison)
//   eval_forward --config small --save small.gguf --tokenizer llama2-tokenizer.model
//
// Prints tokens/s (best of --repeats passes after the first), model FLOPs/s with forward
// FLOPs per token = 2 x (matmul weights incl. the output head) + 2 x layers x dim x T
// (causal attention), the workspace the eval refuses by (exact estimate), and the peak
// RSS of this process (VmHWM: weights, workspace, everything). --save writes the random
// model as GGUF (with the tokenizer) so `longctx eval ppl` can be measured as a user runs it.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "eval/scoring.h"
#include "io/model_io.h"
#include "model/config.h"
#include "model/llama.h"

using namespace longctx;

namespace {

struct Options {
  std::string config = "tiny", json_path, save, tokenizer, path = "long";
  int64_t seq = 4096;
  int repeats = 1, threads = 2;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      LONGCTX_CHECK(i + 1 < argc, "eval_forward: %s needs a value", a.c_str());
      return argv[++i];
    };
    if (a == "--config") o.config = value();
    else if (a == "--seq") o.seq = std::stoll(value());
    else if (a == "--repeats") o.repeats = std::stoi(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--json") o.json_path = value();
    else if (a == "--save") o.save = value();
    else if (a == "--tokenizer") o.tokenizer = value();
    else if (a == "--path") o.path = value();
    else throw_error("eval_forward: unknown argument '%s'", a.c_str());
  }
  return o;
}

double forward_flops_per_token(const model::ModelConfig& c, int64_t T) {
  const double C = double(c.dim), D = double(c.resolved_head_dim());
  const double per_layer = double(c.n_heads + 2 * c.n_kv_heads) * D * C +
                           double(c.n_heads) * D * C + 3.0 * double(c.ffn_dim) * C;
  return 2.0 * (double(c.n_layers) * per_layer + double(c.vocab_size) * C) +
         2.0 * double(c.n_layers) * C * double(T);
}

int run(const Options& o) {
  set_num_threads(o.threads);
  model::ModelConfig cfg = model::preset_config(o.config);
  model::LlamaModel m(cfg);
  model::init_weights(m, 1234);
  if (!o.save.empty()) {
    LONGCTX_CHECK(!o.tokenizer.empty(), "eval_forward --save: give --tokenizer (vocab %lld)",
                  static_cast<long long>(cfg.vocab_size));
    const io::Tokenizer tok = io::Tokenizer::from_file(o.tokenizer);
    LONGCTX_CHECK(tok.vocab_size() == cfg.vocab_size, "eval_forward --save: tokenizer has %d pieces, "
                  "the %s preset %lld", tok.vocab_size(), o.config.c_str(),
                  static_cast<long long>(cfg.vocab_size));
    io::save_gguf_model(m, &tok, o.save);
    std::printf("wrote %s (%s preset, random init, seed 1234)\n", o.save.c_str(), o.config.c_str());
    return 0;
  }
  const int64_t T = o.seq;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::vector<int32_t> stream(static_cast<size_t>(T + 1));
  for (int32_t& t : stream) t = tok(rng);
  std::vector<float> losses(static_cast<size_t>(T));
  LONGCTX_CHECK(o.path == "long" || o.path == "training", "--path: long or training, got '%s'",
                o.path.c_str());
  eval::TokenScorer scorer(m);
  model::TrainWorkspace tw;  // --path training: the training forward (all (T, ...) activations)
  double best = 1e300, first = 0;
  for (int r = 0; r <= o.repeats; ++r) {  // pass 0 warms up (page faults, BLAS buffers)
    Timer t;
    if (o.path == "long")
      scorer.prefix_losses(losses.data(), stream, T);
    else
      model::forward_loss(m, stream.data(), stream.data() + 1, 1, T, tw, losses.data());
    const double s = t.seconds();
    if (r == 0) first = s;
    else best = std::min(best, s);
  }
  if (o.repeats == 0) best = first;
  double mean = 0;
  for (const float l : losses) mean += l;
  mean /= double(T);
  const double tps = double(T) / best;
  const double gflops = forward_flops_per_token(cfg, T) * tps / 1e9;
  const size_t ws = eval::TokenScorer::workspace_bytes(cfg, T);
  const size_t peak = peak_rss_bytes();
  std::printf("eval_forward %s (%s path) T=%lld: %.1f tokens/s (%.2f s; first pass %.2f s), %.1f GFLOP/s, "
              "mean loss %.4f; weights %.3f GB, workspace %.3f GB (estimate), peak RSS %.3f GB "
              "(%.3f GiB)\n",
              o.config.c_str(), o.path.c_str(), static_cast<long long>(T), tps, best, first, gflops, mean,
              double(m.params.size() * sizeof(float)) / 1e9, double(ws) / 1e9, double(peak) / 1e9,
              double(peak) / double(1ull << 30));
  if (!o.json_path.empty()) {
    nlohmann::json j = {{"bench", "eval_forward"},   {"config", o.config}, {"path", o.path},
                        {"seq", T},                  {"threads", o.threads},
                        {"tokens_per_second", tps},  {"seconds", best},
                        {"first_pass_seconds", first}, {"gflops", gflops},
                        {"mean_loss", mean},         {"workspace_bytes", ws},
                        {"weight_bytes", m.params.size() * sizeof(float)},
                        {"peak_rss_bytes", peak}};
    std::ofstream(o.json_path, std::ios::app) << j.dump() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eval_forward: error: %s\n", e.what());
    return 1;
  }
}
