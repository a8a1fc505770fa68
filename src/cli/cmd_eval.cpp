// `longctx eval ppl | kld | fsr | passkey | niah`: evaluations of one or more models (GGUF,
// Hugging Face folder, or training run folder) under their own or overridden position
// encodings (--rope, repeatable: every model under every spec). Each writes
// OUT/<task>.json (every number, the rules, model and encoding per row), CSV and SVG plots,
// and prints the rules and a summary table. docs/eval.md explains every rule.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/args.h"
#include "cli/registry.h"
#include "core/error.h"
#include "eval/kld.h"
#include "eval/memory.h"
#include "eval/ppl_eval.h"
#include "eval/probes.h"
#include "rope/rope_spec.h"
#include "train/distributed.h"

namespace longctx::cli {
namespace {

namespace fs = std::filesystem;

struct CommonArgs {
  std::vector<std::string> models, ropes, text;
  std::string tokenizer, data, out, lengths;
  double max_memory_gb = 0;  // 0 = what the system has available
};

void add_common(CLI::App* cmd, CommonArgs& a, const std::string& default_lengths, bool documents) {
  a.lengths = default_lengths;
  cmd->add_option("--model", a.models, "GGUF file, Hugging Face folder or run folder (repeatable)")
      ->required();
  cmd->add_option("--rope", a.ropes,
                  "Encoding override, e.g. linear:factor=8 (repeatable; 'model' = the model's own; "
                  "none given = each model's own)");
  cmd->add_option("--tokenizer", a.tokenizer, "SentencePiece .model instead of the models' own");
  cmd->add_option("--lengths", a.lengths, "Context lengths in tokens, e.g. 256,1k,4k,32k")
      ->capture_default_str();
  cmd->add_option("-o,--out", a.out, "Output folder")->required();
  cmd->add_option("--max-memory", a.max_memory_gb,
                  "Refuse lengths whose estimated peak exceeds this many GB (0 = memory available "
                  "now)")->capture_default_str();
  if (documents) {
    cmd->add_option("--text", a.text, "Text files or folders (each file is a document)");
    cmd->add_option("--data", a.data, "Token shard prefix, or a prepared folder (its valid split)");
  } else {
    cmd->add_option("--text", a.text, "Text files or folders");
  }
}

std::vector<eval::EvalModel> load_models(const std::vector<std::string>& paths, const std::string& tok) {
  std::vector<eval::EvalModel> models;
  for (const std::string& p : paths) models.push_back(eval::load_eval_model(p, tok));
  return models;
}

size_t memory_limit(const CommonArgs& a) {
  return a.max_memory_gb > 0 ? static_cast<size_t>(a.max_memory_gb * 1e9) : eval::default_memory_limit();
}

eval::DocumentSet documents(const CommonArgs& a) {
  LONGCTX_CHECK(a.text.empty() != a.data.empty(), "give either --text or --data (one of them)");
  eval::DocumentSet d;
  if (!a.data.empty())
    d.shards = eval::read_shard_documents(a.data);
  else
    d.texts = eval::read_text_documents(a.text);
  return d;
}

void log_line(const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); }

void print_written(const std::string& out, const char* task) {
  std::printf("wrote %s/%s.json (+ .csv, .svg)\n", out.c_str(), task);
}

// ---- ppl ----
struct PplArgs {
  CommonArgs c;
  std::string mode = "prefix", baseline;
  int64_t window = 0, stride = 0, ctx = 512, bucket = 500, samples = 8;
  bool no_bos = false, no_longppl = false;
  int64_t longppl_window = 0;
  double longppl_alpha = 2.0, longppl_beta = -2.0;
  int context_parallel = 1;
};

void run_ppl(const PplArgs& a, eval::ContextScoring* context) {
  eval::PplOptions o;
  o.rules.mode = eval::ppl_mode_from_name(a.mode);
  o.rules.bos = !a.no_bos;
  o.rules.window = a.window;
  o.rules.stride = a.stride;
  o.rules.n_ctx = a.ctx;
  o.rules.bucket = a.bucket;
  o.rules.max_samples = a.samples;
  o.rules.validate();
  if (o.rules.mode != eval::PplMode::kLlamaCpp) o.lengths = parse_lengths(a.c.lengths, "--lengths");
  o.longppl = {!a.no_longppl, a.longppl_window, a.longppl_alpha, a.longppl_beta};
  o.memory_limit = memory_limit(a.c);
  const bool writer = context == nullptr || context->writer();
  if (writer) o.log = log_line;
  o.context = context;
  const eval::DocumentSet docs = documents(a.c);
  // The baseline is loaded once even when it is also a --model.
  std::vector<std::string> paths = a.c.models;
  int base_model = -1;
  if (!a.baseline.empty()) {
    for (size_t i = 0; i < paths.size() && base_model < 0; ++i) {
      std::error_code ec;
      if (fs::equivalent(paths[i], a.baseline, ec)) base_model = static_cast<int>(i);
    }
    if (base_model < 0) {
      paths.push_back(a.baseline);
      base_model = static_cast<int>(paths.size()) - 1;
    }
  }
  std::vector<eval::EvalModel> models = load_models(paths, a.c.tokenizer);
  std::vector<eval::EvalRow> rows;
  {
    // Rows of the --model models under every --rope; the baseline under its own encoding: a
    // row of its own, unless a --model row already is that model under that encoding (then
    // that row is the baseline, rather than the same numbers twice, one plotted over the other).
    for (eval::EvalRow& r : eval::make_rows(models, a.c.ropes))
      if (r.model < static_cast<int>(a.c.models.size())) rows.push_back(r);
    if (base_model >= 0) {
      eval::EvalRow b = eval::make_rows(models, {})[static_cast<size_t>(base_model)];
      const std::string spec = rope::format_rope_spec(b.rope);
      const auto same = std::find_if(rows.begin(), rows.end(), [&](const eval::EvalRow& r) {
        return r.model == b.model && rope::format_rope_spec(r.rope) == spec;
      });
      eval::EvalRow& base = same != rows.end() ? *same : rows.emplace_back(b);
      base.baseline = true;
      base.label = "baseline: " + base.label;
    }
  }
  if (writer) {
    std::printf("eval ppl rules: %s\n", o.rules.describe().c_str());
    if (context != nullptr)
      std::printf("context parallel: every sequence split over %d MPI ranks (ring attention)\n",
                  context->ranks());
    std::fflush(stdout);
  }
  const eval::PplResult r = eval::run_ppl(models, rows, docs, o);
  if (!writer) return;  // every rank holds the same result; rank 0 writes it
  eval::write_ppl_outputs(r, a.c.out);
  std::printf("%s", eval::ppl_summary(r).c_str());
  print_written(a.c.out, "ppl");
}

// Under mpirun: the context group over the world's ranks; any rank's error ends every rank
// (the others would wait for it in the ring or a collective), printed with its rank.
void run_ppl_ranks(const PplArgs& a) {
  train::Comm& world = train::Comm::world();
  if (a.context_parallel == 1 && world.size() == 1) return run_ppl(a, nullptr);
  try {
    LONGCTX_CHECK(a.context_parallel != 1,
                  "eval ppl under mpirun with %d ranks: give --context-parallel %d (every rank "
                  "would otherwise evaluate, and write, the same)",
                  world.size(), world.size());
    eval::ContextScoring context(world, a.context_parallel);
    run_ppl(a, &context);
  } catch (const std::exception& e) {
    if (world.size() == 1) throw;  // main prints it
    std::fprintf(stderr, "longctx: error (rank %d): %s\n", world.rank(), e.what());
    std::fflush(stderr);
    world.abort(1);
  }
  world.finalize();
}

// ---- kld ----
struct KldArgs {
  CommonArgs c;
  std::string reference, reference_rope = "model";
  int64_t bucket = 500, samples = 4;
  bool no_bos = false;
};

void run_kld(const KldArgs& a) {
  eval::KldOptions o;
  o.lengths = parse_lengths(a.c.lengths, "--lengths");
  o.rules.bos = !a.no_bos;
  o.rules.bucket = a.bucket;
  o.rules.max_samples = a.samples;
  o.memory_limit = memory_limit(a.c);
  o.log = log_line;
  const eval::DocumentSet docs = documents(a.c);
  std::vector<eval::EvalModel> refs = load_models({a.reference}, a.c.tokenizer);
  const eval::EvalRow ref_row = eval::make_rows(refs, {a.reference_rope})[0];
  std::vector<eval::EvalModel> models = load_models(a.c.models, a.c.tokenizer);
  const std::vector<eval::EvalRow> rows = eval::make_rows(models, a.c.ropes);
  const eval::KldResult r = eval::run_kld(refs[0], ref_row, models, rows, docs, o);
  eval::write_kld_outputs(r, a.c.out);
  std::printf("%s", eval::kld_summary(r).c_str());
  print_written(a.c.out, "kld");
}

// ---- fsr / passkey / niah ----
struct ProbeArgs {
  CommonArgs c;
  std::string depths = "0,0.25,0.5,0.75,1";
  eval::ProbeOptions o;
};

void run_probe(eval::ProbeTask task, const ProbeArgs& a) {
  eval::ProbeOptions o = a.o;
  o.lengths = parse_lengths(a.c.lengths, "--lengths");
  if (task != eval::ProbeTask::kFsr) o.depths = parse_numbers(a.depths, "--depths");
  o.memory_limit = memory_limit(a.c);
  o.log = log_line;
  std::vector<eval::TextDocument> docs;
  if (task != eval::ProbeTask::kPasskey) {
    LONGCTX_CHECK(!a.c.text.empty(), "eval %s: --text (files or folders of real text) is required",
                  eval::probe_task_name(task));
    docs = eval::read_text_documents(a.c.text);
  }
  std::vector<eval::EvalModel> models = load_models(a.c.models, a.c.tokenizer);
  const std::vector<eval::EvalRow> rows = eval::make_rows(models, a.c.ropes);
  const eval::ProbeResult r = eval::run_probe(task, models, rows, docs, o);
  eval::write_probe_outputs(r, a.c.out);
  std::printf("%s", eval::probe_summary(r).c_str());
  print_written(a.c.out, eval::probe_task_name(task));
}

std::string paper_lengths_text() {
  std::string s;
  for (const int64_t L : eval::paper_fsr_lengths()) s += (s.empty() ? "" : ",") + std::to_string(L);
  return s;
}

void add_eval_command(CLI::App& app) {
  CLI::App* ev = app.add_subcommand("eval", "Evaluate long-context ability: perplexity, KL, retrieval");
  ev->require_subcommand(1);

  static PplArgs pa;
  CLI::App* ppl = ev->add_subcommand("ppl", "Perplexity against context length, per-position loss, LongPPL");
  add_common(ppl, pa.c, "256,1k,4k,16k,32k", true);
  ppl->add_option("--mode", pa.mode, "prefix, sliding, or llamacpp (llama-perplexity's chunking)")
      ->capture_default_str();
  ppl->add_option("--window", pa.window, "sliding: tokens per window");
  ppl->add_option("--stride", pa.stride, "sliding: tokens moved per window (0 = window/2)");
  ppl->add_option("--ctx", pa.ctx, "llamacpp: chunk length (llama-perplexity's -c)")->capture_default_str();
  ppl->add_option("--bucket", pa.bucket, "Per-position averaging width in tokens")->capture_default_str();
  ppl->add_option("--samples", pa.samples, "Samples over all documents")->capture_default_str();
  ppl->add_flag("--no-bos", pa.no_bos, "Do not put BOS before each sample");
  ppl->add_option("--baseline", pa.baseline, "Base model: every row's change against it per length");
  ppl->add_flag("--no-longppl", pa.no_longppl, "Skip LongPPL (saves the evaluator's short-window pass)");
  ppl->add_option("--longppl-window", pa.longppl_window,
                  "LongPPL short context in tokens (0 = the first model's trained length)");
  ppl->add_option("--longppl-alpha", pa.longppl_alpha, "LongPPL log-probability gain threshold")
      ->capture_default_str();
  ppl->add_option("--longppl-beta", pa.longppl_beta, "LongPPL long log-probability threshold")
      ->capture_default_str();
  ppl->add_option("--context-parallel", pa.context_parallel,
                  "Split every sequence over K MPI ranks along time (ring attention); run under "
                  "`mpirun -np K`")
      ->capture_default_str();
  ppl->callback([] { run_ppl_ranks(pa); });

  static KldArgs ka;
  CLI::App* kld = ev->add_subcommand("kld", "KL divergence and top-token agreement against a reference");
  add_common(kld, ka.c, "1k,4k", true);
  kld->add_option("--reference", ka.reference, "Reference model")->required();
  kld->add_option("--reference-rope", ka.reference_rope, "Reference encoding ('model' = its own)")
      ->capture_default_str();
  kld->add_option("--bucket", ka.bucket, "Per-position averaging width in tokens")->capture_default_str();
  kld->add_option("--samples", ka.samples, "Samples over all documents")->capture_default_str();
  kld->add_flag("--no-bos", ka.no_bos, "Do not put BOS before each sample");
  kld->callback([] { run_kld(ka); });

  struct ProbeCommand {
    eval::ProbeTask task;
    const char* help;
    std::string lengths;
  };
  static ProbeArgs probe_args[3];
  const ProbeCommand commands[] = {
      {eval::ProbeTask::kFsr, "First-sentence retrieval (ROUGE-L) against length", paper_lengths_text()},
      {eval::ProbeTask::kPasskey, "Passkey retrieval by length and depth", "1k,2k,4k,8k,16k,32k"},
      {eval::ProbeTask::kNiah, "Needle-in-a-haystack grid (length x depth)", "1k,2k,4k,8k,16k,32k"}};
  for (int i = 0; i < 3; ++i) {
    ProbeArgs& a = probe_args[i];
    const eval::ProbeTask task = commands[i].task;
    CLI::App* cmd = ev->add_subcommand(eval::probe_task_name(task), commands[i].help);
    add_common(cmd, a.c, commands[i].lengths, false);
    cmd->add_option("--count", a.o.count,
                    task == eval::ProbeTask::kFsr ? "Documents per length" : "Trials per length and depth")
        ->capture_default_str();
    cmd->add_option("--max-new-tokens", a.o.max_new_tokens, "Generation limit (0 = task default: fsr 64, else 16)")
        ->capture_default_str();
    cmd->add_option("--seed", a.o.seed, "Seed of the generated prompts")->capture_default_str();
    if (task != eval::ProbeTask::kFsr)
      cmd->add_option("--depths", a.depths, "Key depths 0..1")->capture_default_str();
    if (task == eval::ProbeTask::kNiah) {
      cmd->add_option("--needle", a.o.needle, "Custom needle sentence");
      cmd->add_option("--question", a.o.question, "Custom needle question");
      cmd->add_option("--answer", a.o.answer, "Custom needle answer");
    }
    cmd->callback([task, &a] { run_probe(task, a); });
  }
}

const CommandRegistrar kRegistrar("eval", add_eval_command);

}  // namespace
}  // namespace longctx::cli
