// `longctx train` (pretraining from scratch) and `longctx extend` (continual pretraining at a
// longer length with a new position encoding, the LLaMA 2 Long recipe). Both take the same
// common flags, every flag also from a TOML file (--config), and write a run folder
// (train/run_folder.h). Thin over train/trainer.h; docs/train.md describes the run.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/registry.h"
#include "core/error.h"
#include "train/distributed.h"
#include "train/run_config.h"
#include "train/trainer.h"

namespace longctx::cli {
namespace {

using train::TrainConfig;

// CLI11 2.1 reads a config file for the main app only, so a subcommand's --config is applied
// here: every `key = value` of the TOML file sets the flag --key unless the command line gave
// it (the command line wins). Required flags are therefore checked after this, in
// resolve_config, not by CLI11.
void apply_config_file(CLI::App* cmd, const std::string& path) {
  if (path.empty()) return;
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const std::exception& e) {
    throw_error("--config '%s': %s", path.c_str(), e.what());
  }
  for (const CLI::ConfigItem& item : items) {
    LONGCTX_CHECK(item.parents.empty(), "--config '%s': sections are not used ([%s])", path.c_str(),
                  item.parents.front().c_str());
    CLI::Option* op = cmd->get_option_no_throw("--" + item.name);
    LONGCTX_CHECK(op != nullptr && item.name != "config",
                  "--config '%s': '%s' is not a flag of `longctx %s`", path.c_str(),
                  item.name.c_str(), cmd->get_name().c_str());
    if (op->count() > 0) continue;
    try {
      op->add_result(item.inputs);
      op->run_callback();
    } catch (const CLI::Error& e) {
      throw_error("--config '%s': %s: %s", path.c_str(), item.name.c_str(), e.what());
    }
  }
}

void add_common_flags(CLI::App* cmd, TrainConfig& c, std::string& config_path) {
  cmd->add_option("--config", config_path,
                  "TOML file with any of these flags (`flag = value`, "
                  "the command line wins); RUN/config.toml is one");
  cmd->add_option("--data", c.data,
                  "Shard folder from `longctx data prepare|default`, as DIR "
                  "or DIR:SHARE (repeat for a mix; shares are relative) [required]");
  cmd->add_option("--seq", c.seq, "Training window T in tokens [required]");
  cmd->add_option("-o,--out", c.out, "Run folder (re-running the command resumes it) [required]");
  cmd->add_option("--rope", c.rope,
                  cmd->get_name() == "extend"
                      ? "New position encoding, e.g. abf:base=500000, linear:factor=8, "
                        "yarn:factor=8,original=4096 [required]"
                      : "Position encoding (default: the model config's)");
  cmd->add_option("--steps", c.steps, "Optimizer steps")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--warmup", c.warmup, "Linear warm-up steps (-1: 2% of --steps)")
      ->capture_default_str();
  cmd->add_option("--schedule", c.schedule, "cosine | constant | linear (decay after warm-up)")
      ->capture_default_str();
  cmd->add_option("--min-lr-ratio", c.min_lr_ratio, "Final learning rate / peak (cosine, linear)")
      ->capture_default_str();
  cmd->add_option("--batch-tokens", c.batch_tokens,
                  "Tokens per optimizer step over all ranks: "
                  "gradients are accumulated over batch-tokens / (seq x micro-batch) micro-batches "
                  "(0: one micro-batch)")
      ->capture_default_str();
  cmd->add_option("--micro-batch", c.micro_batch, "Sequences per forward/backward call")
      ->capture_default_str();
  cmd->add_option("--save-every", c.save_every, "Checkpoint every N steps (and at the end)")
      ->capture_default_str();
  cmd->add_option("--eval-every", c.eval_every,
                  "Validation loss every N steps (0: at the end only)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", c.eval_batches, "Validation micro-batches per evaluation")
      ->capture_default_str();
  cmd->add_option("--keep", c.keep, "Checkpoints kept")->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed of initialisation, data order, mixing and PoSE")
      ->capture_default_str();
  cmd->add_option("--threads", c.threads,
                  "Threads per process (0: all cores); the same count "
                  "is needed for a bit-identical resume")
      ->capture_default_str();
  cmd->add_option("--pack", c.pack, "packed (documents back to back) | padded (one per sequence)")
      ->capture_default_str();
  cmd->add_option("--upsample", c.upsample,
                  "Long-document upsampling, min_tokens:weight,... "
                  "(e.g. 0:1,16384:4)");
  cmd->add_flag("--document-mask,!--no-document-mask", c.document_mask,
                "Attention stops at document boundaries in packed sequences")
      ->capture_default_str();
  cmd->add_flag("--document-positions", c.document_positions,
                "Position ids restart at each document");
  cmd->add_option("--task-share", c.task_share, "Share of sequences replaced by synthetic tasks")
      ->capture_default_str();
  cmd->add_option("--tasks", c.tasks, "Synthetic tasks mixed in: passkey,first_sentence")
      ->capture_default_str();
  cmd->add_option("--pose-target", c.pose_target,
                  "PoSE: train in the --seq window with position "
                  "ids spanning this length (0: off)")
      ->capture_default_str();
  cmd->add_option("--pose-chunks", c.pose_chunks, "PoSE chunks per window")->capture_default_str();
  cmd->add_option("--short-seq", c.short_seq,
                  "Curriculum: the first round(--short-share x --steps) steps train at this "
                  "window T0 < --seq, the same --batch-tokens per step (0: off)")
      ->capture_default_str();
  cmd->add_option("--short-share", c.short_share,
                  "Curriculum: share of the steps at --short-seq, in [0, 1)")
      ->capture_default_str();
  cmd->add_option("--short-rope", c.short_rope,
                  "Curriculum: position encoding of the short phase (default: the run's; the "
                  "final model carries the run's)");
  cmd->add_option("--weight-decay", c.weight_decay, "AdamW decoupled weight decay (never on norms)")
      ->capture_default_str();
  cmd->add_flag("--decay-embeddings,!--no-decay-embeddings", c.decay_embeddings,
                "Apply weight decay to the token embedding")
      ->capture_default_str();
  cmd->add_option("--beta1", c.beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", c.beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--adam-eps", c.adam_eps, "AdamW epsilon")->capture_default_str();
  cmd->add_option("--clip", c.clip, "Global gradient-norm clipping (0: off)")
      ->capture_default_str();
  cmd->add_option("--context-parallel", c.context_parallel,
                  "Ranks sharing each sequence (ring attention, zig-zag split; under mpirun -np "
                  "K*D: D data-parallel groups of K); --seq must be a multiple of 2K")
      ->capture_default_str();
  cmd->add_option("--matmul-precision", c.matmul_precision,
                  "Matrix products: fp32, or bf16 (operands rounded to bf16, fp32 accumulation "
                  "and master weights)")
      ->capture_default_str();
  cmd->add_flag("--recompute", c.recompute,
                "Recompute layer activations in the backward "
                "(less memory, same results)");
  cmd->add_flag("--gguf", c.gguf, "Also write RUN/final.gguf");
  cmd->add_flag("--resume", c.resume, "Require an existing checkpoint in RUN to resume from");
  cmd->add_option("--peak-gflops", c.peak_gflops,
                  "Matrix-multiply peak for MFU (0: best GEMM of "
                  "both engines, measured at start)")
      ->capture_default_str();
  // A flag given twice (or after a shell alias) takes the last value.
  for (CLI::Option* op : cmd->get_options())
    if (op->get_name() != "--data") op->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

int run(TrainConfig& config) {
  train::Comm& comm = train::Comm::world();
  int status = 0;
  try {
    train::run_training(config);
  } catch (const train::DivergenceError& e) {
    // Every rank sees the same reduced loss and norm, so all stop here together.
    if (comm.is_root()) std::fprintf(stderr, "longctx: error: %s\n", e.what());
    status = 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "longctx: error%s: %s\n",
                 comm.size() > 1 ? strformat(" (rank %d)", comm.rank()).c_str() : "", e.what());
    if (comm.size() > 1) comm.abort(1);  // the other ranks would wait in a collective
    status = 1;
  }
  comm.finalize();
  return status;
}

void add_train_commands(CLI::App& app) {
  static TrainConfig train_config;
  static std::string train_toml, extend_toml;
  CLI::App* train_cmd = app.add_subcommand(
      "train",
      "Pretrain a LLaMA model from scratch on token shards (run folder, exact resume, "
      "MPI data and context parallel under mpirun)");
  train_config.command = train::RunCommand::kTrain;
  train_cmd
      ->add_option("--model-config", train_config.model_config,
                   "Preset (tiny, small, test) or a Hugging Face config.json")
      ->capture_default_str();
  add_common_flags(train_cmd, train_config, train_toml);
  train_cmd->callback([train_cmd] {
    apply_config_file(train_cmd, train_toml);
    if (const int s = run(train_config); s != 0) std::exit(s);
  });

  static TrainConfig extend_config;
  extend_config.command = train::RunCommand::kExtend;
  extend_config.lr = 2e-5;  // LLaMA 2 Long's rate for 7B/13B; cosine with linear warm-up
  CLI::App* extend_cmd = app.add_subcommand(
      "extend",
      "Continual pretraining at a longer length with a new position encoding (LLaMA 2 "
      "Long: ABF base 500000, lr 2e-5, cosine, warm-up); fresh optimizer state");
  extend_cmd->add_option("--from", extend_config.from,
                         "Model: a Hugging Face folder, a GGUF file or a run folder [required]");
  add_common_flags(extend_cmd, extend_config, extend_toml);
  extend_cmd->callback([extend_cmd] {
    apply_config_file(extend_cmd, extend_toml);
    if (const int s = run(extend_config); s != 0) std::exit(s);
  });
}

const CommandRegistrar kRegistrar("train", add_train_commands);

}  // namespace
}  // namespace longctx::cli
