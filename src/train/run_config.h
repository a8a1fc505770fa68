// The resolved configuration of a training run (`longctx train` / `longctx extend`): every
// flag, after defaults that depend on the command are filled in. It is written to
// RUN/config.toml (one `flag = value` line per flag, readable back with --config) and
// compared with what a RUN already holds before resuming.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace longctx::train {

enum class RunCommand { kTrain, kExtend };
const char* run_command_name(RunCommand command);

struct TrainConfig {
  RunCommand command = RunCommand::kTrain;
  // Model.
  std::string model_config = "tiny";  // train: preset name or a Hugging Face config.json
  std::string from;                   // extend: HF folder, GGUF file or run folder
  std::string rope;                   // position encoding spec ("" = the model's own, train only)
  // Data.
  std::vector<std::string> data;    // shard folders, each "DIR" or "DIR:SHARE"
  int64_t seq = 0;                  // T, tokens per sequence (the training window); required
  std::string pack = "packed";      // packed | padded
  std::string upsample;             // "min_tokens:weight,..." long-document upsampling
  bool document_mask = true;        // attention stops at document boundaries
  bool document_positions = false;  // position ids restart at each document
  double task_share = 0;            // share of sequences replaced by synthetic tasks
  std::string tasks = "passkey,first_sentence";
  int64_t pose_target = 0;  // PoSE: positions span this length (0 = off)
  int64_t pose_chunks = 2;
  // Short-to-long curriculum (curriculum.h): the first round(short_share x steps) steps train
  // at window short_seq with encoding short_rope ("" = the run's), the rest at seq.
  int64_t short_seq = 0;  // T0 (0 = off)
  double short_share = 0;
  std::string short_rope;
  // Optimisation.
  int64_t steps = 1000;
  double lr = 3e-4;
  int64_t warmup = -1;              // -1 = 2% of steps (resolved before writing)
  std::string schedule = "cosine";  // cosine | constant | linear
  double min_lr_ratio = 0.1;
  int64_t batch_tokens = 0;  // tokens per optimizer step over all ranks (0 = one micro-batch)
  int64_t micro_batch = 1;   // sequences per forward/backward call
  double weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double clip = 1.0;
  bool decay_embeddings = true;
  bool recompute = false;
  // Matrix products: "fp32", or "bf16" (operands rounded to bf16, fp32 accumulation;
  // fp32 master weights and optimizer state either way).
  std::string matmul_precision = "fp32";
  uint64_t seed = 1234;
  int threads = 0;           // 0 = all cores (resolved before writing)
  int context_parallel = 1;  // K: MPI ranks sharing each sequence (ring attention)
  // Run control.
  std::string out;
  int64_t save_every = 100;
  int64_t eval_every = 100;
  int64_t eval_batches = 8;  // validation sequences per evaluation
  int keep = 3;              // checkpoints kept
  bool gguf = false;         // also write RUN/final.gguf
  bool resume = false;       // require an existing checkpoint
  double peak_gflops = 0;    // sgemm peak for MFU (0 = measured at start)
};

// How a key is treated when a RUN already holds a configuration.
enum class KeyRole {
  kIdentity,   // defines the run: a different value is refused
  kExactness,  // allowed, but a different value gives a different (not bit-identical) curve
  kControl,    // how the run is driven or reported: may change freely
};

struct ConfigEntry {
  std::string key;      // the flag name without dashes
  std::string value;    // canonical text (what config.toml holds, unquoted)
  bool quoted = false;  // a TOML string
  KeyRole role = KeyRole::kIdentity;
  // A key added after runs existed: a config.toml without it meant this value (none: the
  // key was always there, its absence is a difference).
  std::optional<std::string> absent_means;
};

// Every flag as an entry, in a fixed order. Repeated flags (--data) give one entry whose
// value joins the items with '\n' (written as a TOML array).
std::vector<ConfigEntry> config_entries(const TrainConfig& config);
// The config.toml text: a comment naming the command, then `key = value` lines.
std::string config_toml(const TrainConfig& config);
// Reads a config.toml written by config_toml into entries (values canonical as above).
std::vector<ConfigEntry> read_config_toml(const std::string& path);

struct ConfigDifference {
  std::string key, stored, requested;
  KeyRole role;
};
// Keys whose values differ (identity and exactness keys; control keys are ignored).
std::vector<ConfigDifference> compare_config(const std::vector<ConfigEntry>& stored,
                                             const std::vector<ConfigEntry>& requested);

// Checks ranges and fills resolved defaults (warm-up, threads, batch tokens). Error names
// the flag.
void resolve_config(TrainConfig& config, int resolved_threads);

}  // namespace longctx::train
