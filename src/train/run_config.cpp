#include "train/run_config.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "kernels/gemm.h"
#include "train/curriculum.h"

namespace longctx::train {

const char* run_command_name(RunCommand command) {
  return command == RunCommand::kTrain ? "train" : "extend";
}

namespace {

// Shortest text that reads back to the same double (so a re-read config compares equal).
std::string number_text(double v) {
  for (int precision = 6; precision <= 17; ++precision) {
    const std::string s = strformat("%.*g", precision, v);
    if (std::strtod(s.c_str(), nullptr) == v) return s;
  }
  return strformat("%.17g", v);
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += '\n';
    out += items[i];
  }
  return out;
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<ConfigEntry> config_entries(const TrainConfig& c) {
  using R = KeyRole;
  std::vector<ConfigEntry> e;
  auto str = [&](const char* key, const std::string& v, R role = R::kIdentity) {
    e.push_back({key, v, true, role, std::nullopt});
  };
  auto num = [&](const char* key, double v, R role = R::kIdentity) {
    e.push_back({key, number_text(v), false, role, std::nullopt});
  };
  auto integer = [&](const char* key, int64_t v, R role = R::kIdentity) {
    e.push_back({key, std::to_string(v), false, role, std::nullopt});
  };
  auto boolean = [&](const char* key, bool v, R role = R::kIdentity) {
    e.push_back({key, v ? "true" : "false", false, role, std::nullopt});
  };
  if (c.command == RunCommand::kTrain)
    str("model-config", c.model_config);
  else
    str("from", c.from);
  str("rope", c.rope);
  str("data", join_lines(c.data));
  integer("seq", c.seq);
  str("pack", c.pack);
  str("upsample", c.upsample);
  boolean("document-mask", c.document_mask);
  boolean("document-positions", c.document_positions);
  num("task-share", c.task_share);
  str("tasks", c.tasks);
  integer("pose-target", c.pose_target);
  integer("pose-chunks", c.pose_chunks);
  // Written by every run (config.toml records the curriculum), but runs older than the
  // curriculum resume: their config.toml lacks these keys and meant "no short phase".
  integer("short-seq", c.short_seq);
  e.back().absent_means = "0";
  num("short-share", c.short_share);
  e.back().absent_means = "0";
  str("short-rope", c.short_rope);
  e.back().absent_means = "";
  integer("steps", c.steps);
  num("lr", c.lr);
  integer("warmup", c.warmup);
  str("schedule", c.schedule);
  num("min-lr-ratio", c.min_lr_ratio);
  integer("batch-tokens", c.batch_tokens);
  integer("micro-batch", c.micro_batch);
  num("weight-decay", c.weight_decay);
  num("beta1", c.beta1);
  num("beta2", c.beta2);
  num("adam-eps", c.adam_eps);
  num("clip", c.clip);
  boolean("decay-embeddings", c.decay_embeddings);
  boolean("recompute", c.recompute, R::kControl);  // bit-identical either way
  // Runs older than the option multiplied in fp32.
  str("matmul-precision", c.matmul_precision, R::kExactness);
  e.back().absent_means = "fp32";
  integer("seed", static_cast<int64_t>(c.seed));
  integer("threads", c.threads, R::kExactness);
  // The same global batch either way; the sums change order (within float rounding).
  integer("context-parallel", c.context_parallel, R::kExactness);
  integer("eval-every", c.eval_every, R::kExactness);  // evaluation points of the curve
  integer("eval-batches", c.eval_batches, R::kExactness);
  str("out", c.out, R::kControl);
  integer("save-every", c.save_every, R::kControl);
  integer("keep", c.keep, R::kControl);
  boolean("gguf", c.gguf, R::kControl);
  num("peak-gflops", c.peak_gflops, R::kControl);
  return e;
}

std::string config_toml(const TrainConfig& c) {
  std::ostringstream out;
  out << "# longctx " << run_command_name(c.command)
      << ": the resolved configuration of this run (every flag; usable with --config)\n";
  for (const ConfigEntry& e : config_entries(c)) {
    out << e.key << " = ";
    if (e.key == "data") {
      std::vector<std::string> items;
      std::stringstream ss(e.value);
      std::string item;
      out << "[";
      bool first = true;
      while (std::getline(ss, item)) out << (first ? "" : ", ") << toml_string(item), first = false;
      out << "]";
    } else {
      out << (e.quoted ? toml_string(e.value) : e.value);
    }
    out << "\n";
  }
  return out.str();
}

std::vector<ConfigEntry> read_config_toml(const std::string& path) {
  std::ifstream in(path);
  LONGCTX_CHECK(in.good(), "'%s': cannot read", path.c_str());
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(in);
  } catch (const std::exception& ex) {
    throw_error("'%s': not a TOML configuration: %s", path.c_str(), ex.what());
  }
  std::vector<ConfigEntry> out;
  for (const CLI::ConfigItem& item : items) {
    ConfigEntry e;
    e.key = item.name;
    std::vector<std::string> inputs = item.inputs;
    if (e.key != "data" && inputs.size() == 1)
      e.value = inputs[0];
    else
      e.value = join_lines(inputs);
    out.push_back(e);
  }
  return out;
}

std::vector<ConfigDifference> compare_config(const std::vector<ConfigEntry>& stored,
                                             const std::vector<ConfigEntry>& requested) {
  std::map<std::string, std::string> old;
  for (const ConfigEntry& e : stored) old[e.key] = e.value;
  std::vector<ConfigDifference> diffs;
  for (const ConfigEntry& e : requested) {
    if (e.role == KeyRole::kControl) continue;
    const auto it = old.find(e.key);
    if (it == old.end() && e.absent_means == e.value) continue;
    const std::string before = it == old.end() ? "(absent)" : it->second;
    // Numbers compare by value so that "1e-05" and "1.0e-5" typed by hand agree.
    if (it != old.end() && !e.quoted) {
      char* end1 = nullptr;
      char* end2 = nullptr;
      const double a = std::strtod(before.c_str(), &end1), b = std::strtod(e.value.c_str(), &end2);
      if (*end1 == 0 && *end2 == 0 && !before.empty() && a == b) continue;
    }
    if (before != e.value) diffs.push_back({e.key, before, e.value, e.role});
  }
  return diffs;
}

void resolve_config(TrainConfig& c, int resolved_threads) {
  LONGCTX_CHECK(!c.out.empty(), "--out: the run folder is required");
  LONGCTX_CHECK(!c.data.empty(), "--data: at least one shard folder is required");
  LONGCTX_CHECK(c.seq >= 2, "--seq: the training window is required (>= 2), got %lld",
                static_cast<long long>(c.seq));
  LONGCTX_CHECK(c.steps >= 1, "--steps: must be >= 1, got %lld", static_cast<long long>(c.steps));
  LONGCTX_CHECK(c.micro_batch >= 1, "--micro-batch: must be >= 1, got %lld",
                static_cast<long long>(c.micro_batch));
  const int64_t micro_tokens = c.seq * c.micro_batch;
  if (c.batch_tokens == 0) c.batch_tokens = micro_tokens;
  LONGCTX_CHECK(c.batch_tokens > 0 && c.batch_tokens % micro_tokens == 0,
                "--batch-tokens: %lld is not a positive multiple of --seq x --micro-batch = %lld",
                static_cast<long long>(c.batch_tokens), static_cast<long long>(micro_tokens));
  if (c.warmup < 0)
    c.warmup = static_cast<int64_t>(std::llround(0.02 * static_cast<double>(c.steps)));
  LONGCTX_CHECK(c.save_every >= 1, "--save-every: must be >= 1");
  LONGCTX_CHECK(c.eval_every >= 0, "--eval-every: must be >= 0 (0 = only at the end)");
  LONGCTX_CHECK(c.eval_batches >= 1, "--eval-batches: must be >= 1");
  LONGCTX_CHECK(c.keep >= 1, "--keep: must be >= 1");
  LONGCTX_CHECK(c.task_share >= 0 && c.task_share <= 1, "--task-share: must be in [0, 1], got %g",
                c.task_share);
  LONGCTX_CHECK(c.pose_target == 0 || c.pose_target > c.seq,
                "--pose-target: must exceed --seq (%lld) or be 0, got %lld",
                static_cast<long long>(c.seq), static_cast<long long>(c.pose_target));
  LONGCTX_CHECK(c.pose_chunks >= 1 && c.pose_chunks <= c.seq,
                "--pose-chunks: must be in [1, --seq]");
  LONGCTX_CHECK(c.peak_gflops >= 0, "--peak-gflops: must be >= 0");
  LONGCTX_CHECK(c.context_parallel >= 1, "--context-parallel: must be >= 1, got %d",
                c.context_parallel);
  LONGCTX_CHECK(
      c.context_parallel == 1 || c.seq % (2 * static_cast<int64_t>(c.context_parallel)) == 0,
      "--seq: %lld is not a multiple of 2 x --context-parallel = %d (each sequence is "
      "cut into that many equal chunks)",
      static_cast<long long>(c.seq), 2 * c.context_parallel);
  check_curriculum_flags(c);
  kernels::parse_matmul_precision(c.matmul_precision.c_str(), "--matmul-precision");
  if (c.threads <= 0) c.threads = resolved_threads;
  LONGCTX_CHECK(c.command == RunCommand::kTrain || !c.from.empty(), "--from: extend needs a model");
  LONGCTX_CHECK(c.command == RunCommand::kTrain || !c.rope.empty(),
                "--rope: extend needs the new position encoding (e.g. abf:base=500000)");
}

}  // namespace longctx::train
