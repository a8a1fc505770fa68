// `longctx data prepare|default|tasks|sample`: corpora into token shards, the built-in default
// corpus, synthetic long-context tasks as JSONL, and a look at sampled training sequences.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/args.h"
#include "cli/registry.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/default_corpus.h"
#include "data/prepare.h"
#include "data/sampler.h"
#include "data/tasks.h"
#include "data/text_input.h"
#include "io/tokenizer.h"

namespace longctx::cli {
namespace {
namespace fs = std::filesystem;

struct PrepareArgs {
  std::vector<std::string> inputs;
  std::string tokenizer, output;
  data::TextInputOptions input;
  data::PrepareOptions prepare;
  double max_mb = 0, max_document_mb = 8, max_line_kb = 1024;
  double segment_kb = 64;  // 0: each document in one tokenizer call (no cuts)
};

void run_prepare(const PrepareArgs& a) {
  data::TextInputOptions in = a.input;
  in.max_document_bytes = static_cast<int64_t>(a.max_document_mb * (1 << 20));
  in.max_line_bytes = static_cast<int64_t>(a.max_line_kb * 1024);
  data::PrepareOptions p = a.prepare;
  p.output_dir = a.output;
  p.tokenizer_path = a.tokenizer;
  p.max_bytes = static_cast<int64_t>(a.max_mb * 1e6);
  LONGCTX_CHECK(a.segment_kb == 0 || a.segment_kb >= 1,
                "--segment-kb must be 0 (whole documents) or at least 1, got %g", a.segment_kb);
  if (a.segment_kb == 0) {
    p.segments = {SIZE_MAX, SIZE_MAX};
  } else {
    p.segments.target_bytes = static_cast<size_t>(a.segment_kb * 1024);
    p.segments.max_bytes = std::max(p.segments.max_bytes, 4 * p.segments.target_bytes);
  }
  const io::Tokenizer tok = io::Tokenizer::from_file(a.tokenizer);
  const auto r = data::prepare_from_inputs(a.inputs, in, tok, p);
  std::printf("data prepare: wrote %s/{train,valid}.{bin,idx} and dataset.json\n%s",
              a.output.c_str(), data::summarize(r).c_str());
}

struct DefaultArgs {
  data::DefaultCorpusOptions corpus;
  std::string sources = "bible,jargon,linux-doc,gcide,debref";
  double gcide_mb = 8, max_mb = 0, sample_mb = 12;
};

void run_default(DefaultArgs a) {
  a.corpus.sources.clear();
  std::stringstream ss(a.sources);
  std::string s;
  while (std::getline(ss, s, ','))
    if (!s.empty()) a.corpus.sources.push_back(s);
  a.corpus.gcide_bytes = static_cast<int64_t>(a.gcide_mb * 1e6);
  a.corpus.max_bytes = static_cast<int64_t>(a.max_mb * 1e6);
  a.corpus.tokenizer_sample_bytes = static_cast<int64_t>(a.sample_mb * 1e6);
  const auto r = data::build_default_corpus(a.corpus);
  std::printf("data default: built %s in %.1f s\n", a.corpus.output_dir.c_str(), r.seconds);
  for (const auto& src : r.sources) {
    const auto it = r.prepared.groups.find(src.name);
    if (!src.present)
      std::printf("  %-10s MISSING: apt-get install %s (or scripts/install-deps.sh --corpus)\n",
                  src.name.c_str(), src.package.c_str());
    else if (it != r.prepared.groups.end())
      std::printf("  %-10s %6lld documents %10lld tokens  longest %lld\n", src.name.c_str(),
                  static_cast<long long>(it->second.documents),
                  static_cast<long long>(it->second.tokens),
                  static_cast<long long>(it->second.longest));
  }
  std::printf("  tokenizer: %s (vocab %d, trained on %.1f MB in %.1f s)\n",
              r.json["tokenizer"]["path"].get<std::string>().c_str(),
              r.json["tokenizer"]["vocab_size"].get<int>(),
              static_cast<double>(r.tokenizer.bytes) / 1e6, r.tokenizer.seconds);
  std::printf("%s  report: %s/corpus.json, %s/dataset.json\n", data::summarize(r.prepared).c_str(),
              a.corpus.output_dir.c_str(), a.corpus.output_dir.c_str());
}

struct TasksArgs {
  std::string task = "passkey", tokenizer, output, lengths = "1024,4096";
  std::vector<std::string> text;
  int count = 10;
  uint64_t seed = 0;
  double depth = -1;
  std::string needle, question, answer;
};

void run_tasks(const TasksArgs& a) {
  LONGCTX_CHECK(a.task == "passkey" || a.task == "needle" || a.task == "first_sentence",
                "data tasks: --task '%s' unknown (passkey, needle, first_sentence)", a.task.c_str());
  LONGCTX_CHECK(a.count > 0, "data tasks: --count must be positive");
  const auto lengths = parse_lengths(a.lengths, "--lengths");
  const io::Tokenizer tok = io::Tokenizer::from_file(a.tokenizer);
  std::vector<data::Document> docs;
  std::string haystack;
  if (a.task != "passkey") {
    LONGCTX_CHECK(!a.text.empty(), "data tasks: --task %s needs --text (files or folders of "
                  "real text)", a.task.c_str());
    data::InputReport report;
    data::TextInputOptions in;
    auto files = data::expand_inputs(a.text, in, report);
    data::DocumentReader reader(std::move(files), in);
    data::Document d;
    while (reader.next(d)) {
      if (a.task == "needle" && haystack.size() < (64u << 20)) haystack += d.text + "\n\n";
      if (a.task == "first_sentence") docs.push_back(d);
    }
    LONGCTX_CHECK(!haystack.empty() || !docs.empty(), "data tasks: no usable text in --text");
    // Longest documents first: they serve the longest prefixes.
    std::stable_sort(docs.begin(), docs.end(),
                     [](const auto& x, const auto& y) { return x.text.size() > y.text.size(); });
  }
  const std::string tmp = a.output + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  LONGCTX_CHECK(out.good(), "data tasks: cannot write '%s'", tmp.c_str());
  int64_t written = 0;
  for (int64_t len : lengths) {
    for (int i = 0; i < a.count; ++i) {
      const uint64_t seed = a.seed * 1000003u + static_cast<uint64_t>(len) * 7919u + i;
      data::TaskExample ex;
      if (a.task == "passkey") {
        ex = data::make_passkey(tok, {len, a.depth, seed});
      } else if (a.task == "needle") {
        data::NeedleOptions o{len, a.depth, seed, a.needle, a.question, a.answer};
        ex = data::make_needle(tok, haystack, o);
      } else {
        // Document i (cycling) among those long enough; the longest come first.
        const auto& doc = docs[static_cast<size_t>(i) % docs.size()];
        ex = data::make_first_sentence(tok, doc.text, {len, seed});
      }
      nlohmann::json j = ex.to_json();
      j["target_tokens"] = len;
      out << j.dump() << "\n";
      ++written;
    }
  }
  out.close();
  LONGCTX_CHECK(out.good(), "data tasks: writing '%s' failed", tmp.c_str());
  fs::rename(tmp, a.output);
  std::printf("data tasks: %lld %s examples written to %s\n", static_cast<long long>(written),
              a.task.c_str(), a.output.c_str());
}

struct SampleArgs {
  std::string data_dir, split = "train", mode = "packed", tokenizer, upsample, cursor;
  int64_t seq_len = 256;
  int count = 2, rank = 0, world_size = 1;
  uint64_t seed = 0;
};

void run_sample(const SampleArgs& a) {
  const nlohmann::json meta = [&] {
    std::ifstream in(fs::path(a.data_dir) / "dataset.json");
    LONGCTX_CHECK(in.good(), "data sample: '%s/dataset.json' not found (run data prepare)",
                  a.data_dir.c_str());
    return nlohmann::json::parse(in, nullptr, false);
  }();
  LONGCTX_CHECK(!meta.is_discarded(), "data sample: '%s/dataset.json' is not JSON",
                a.data_dir.c_str());
  data::SamplerOptions o;
  o.seq_len = a.seq_len;
  o.mode = data::parse_pack_mode(a.mode);
  o.seed = a.seed;
  o.rank = a.rank;
  o.world_size = a.world_size;
  o.upsample = data::parse_bucket_weights(a.upsample);
  o.bos_id = meta["tokenizer"].value("bos_id", 1);
  o.eos_id = meta["tokenizer"].value("eos_id", 2);
  data::SequenceSampler sampler({(fs::path(a.data_dir) / a.split).string()}, o);
  if (!a.cursor.empty()) sampler.restore(nlohmann::json::parse(a.cursor));
  std::unique_ptr<io::Tokenizer> tok;
  if (!a.tokenizer.empty()) tok = std::make_unique<io::Tokenizer>(io::Tokenizer::from_file(a.tokenizer));
  data::Sequence seq;
  for (int i = 0; i < a.count; ++i) {
    sampler.next(seq);
    int32_t segments = 0;
    for (int32_t s : seq.segment_ids) segments = std::max(segments, s + 1);
    nlohmann::json j = {{"sequence", sampler.cursor().sequences - 1},
                        {"segments", segments},
                        {"inputs", seq.inputs}};
    if (tok) {
      std::vector<int32_t> real;
      for (size_t t = 0; t < seq.inputs.size(); ++t)
        if (seq.segment_ids[t] >= 0) real.push_back(seq.inputs[t]);
      j["text"] = tok->decode(real);
    }
    std::printf("%s\n", j.dump().c_str());
  }
  std::printf("%s\n", nlohmann::json{{"cursor", sampler.cursor_json()}}.dump().c_str());
}

CommandRegistrar reg("data", [](CLI::App& app) {
  auto* data = app.add_subcommand("data", "Corpora into token shards, default corpus, tasks");
  data->require_subcommand(1);

  auto pa = std::make_shared<PrepareArgs>();
  auto* prep = data->add_subcommand("prepare", "Tokenise text files, folders, .gz, JSONL into "
                                               "train/valid token shards (Megatron .bin/.idx)");
  prep->add_option("inputs", pa->inputs, "Files or folders (recursive)")->required();
  prep->add_option("--tokenizer", pa->tokenizer, "SentencePiece .model")->required();
  prep->add_option("-o,--out", pa->output, "Output folder")->required();
  prep->add_option("--include", pa->input.include, "Filename patterns inside folders (e.g. '*.txt')");
  prep->add_option("--jsonl-field", pa->input.jsonl_field, "Text field of JSONL records")
      ->capture_default_str();
  prep->add_option("--valid-fraction", pa->prepare.split.valid_fraction,
                   "Seeded random share of documents for validation")->capture_default_str();
  prep->add_option("--valid-longest", pa->prepare.split.valid_longest,
                   "Also send the N longest documents to validation")->capture_default_str();
  prep->add_option("--seed", pa->prepare.split.seed, "Split seed")->capture_default_str();
  prep->add_option("--max-documents", pa->prepare.max_documents, "Stop after N documents (0 = all)");
  prep->add_option("--max-mb", pa->max_mb, "Stop after this many MB of text (0 = all)");
  prep->add_option("--max-document-mb", pa->max_document_mb,
                   "Longer documents are cut into parts")->capture_default_str();
  prep->add_option("--segment-kb", pa->segment_kb,
                   "Documents are tokenised in segments of about this size, cut where the tokens "
                   "provably stay those of the whole document (0 = whole documents, one call each)")
      ->capture_default_str();
  prep->add_option("--max-line-kb", pa->max_line_kb, "Longer lines are wrapped")
      ->capture_default_str();
  prep->callback([pa] { run_prepare(*pa); });

  auto da = std::make_shared<DefaultArgs>();
  auto* def = data->add_subcommand("default", "Build the default corpus from Debian text "
                                              "packages (scripts/install-deps.sh --corpus)");
  def->add_option("-o,--out", da->corpus.output_dir, "Output folder")->capture_default_str();
  def->add_option("--sources", da->sources, "Comma list of bible,jargon,linux-doc,gcide,debref")
      ->capture_default_str();
  def->add_option("--vocab-size", da->corpus.tokenizer.vocab_size, "Tokenizer vocabulary")
      ->capture_default_str();
  def->add_option("--gcide-mb", da->gcide_mb, "Dictionary text used, MB (it has 40; 0 = all)")
      ->capture_default_str();
  def->add_option("--max-mb", da->max_mb, "Cap on the whole corpus, MB (0 = everything)");
  def->add_option("--tokenizer-sample-mb", da->sample_mb, "Text sampled to train the tokenizer")
      ->capture_default_str();
  def->add_option("--valid-fraction", da->corpus.split.valid_fraction, "Random validation share")
      ->capture_default_str();
  def->add_option("--valid-longest", da->corpus.split.valid_longest,
                  "The N longest documents go to validation")->capture_default_str();
  def->add_option("--seed", da->corpus.split.seed, "Split and sampling seed")->capture_default_str();
  def->add_option("--root", da->corpus.root, "Where the Debian files live")->capture_default_str();
  def->callback([da] { run_default(*da); });

  auto ta = std::make_shared<TasksArgs>();
  auto* tasks = data->add_subcommand("tasks", "Write synthetic long-context tasks as JSONL "
                                              "(exact token lengths)");
  tasks->add_option("--task", ta->task, "passkey, needle or first_sentence")->capture_default_str();
  tasks->add_option("--tokenizer", ta->tokenizer, "SentencePiece .model")->required();
  tasks->add_option("-o,--out", ta->output, "Output .jsonl")->required();
  tasks->add_option("--lengths", ta->lengths, "Prompt lengths in tokens (with BOS), e.g. 1k,4k")
      ->capture_default_str();
  tasks->add_option("--count", ta->count, "Examples per length")->capture_default_str();
  tasks->add_option("--seed", ta->seed, "Seed")->capture_default_str();
  tasks->add_option("--depth", ta->depth, "Key/needle depth 0..1 (default uniform)");
  tasks->add_option("--text", ta->text, "Real text (files/folders) for needle and first_sentence");
  tasks->add_option("--needle", ta->needle, "Custom needle sentence");
  tasks->add_option("--question", ta->question, "Custom needle question");
  tasks->add_option("--answer", ta->answer, "Custom needle answer");
  tasks->callback([ta] { run_tasks(*ta); });

  auto sa = std::make_shared<SampleArgs>();
  auto* sample = data->add_subcommand("sample", "Print training sequences cut from shards");
  sample->add_option("--data", sa->data_dir, "Prepared folder")->required();
  sample->add_option("--split", sa->split, "train or valid")->capture_default_str();
  sample->add_option("--seq-len", sa->seq_len, "Tokens per sequence")->capture_default_str();
  sample->add_option("--mode", sa->mode, "packed or padded")->capture_default_str();
  sample->add_option("--count", sa->count, "Sequences to print")->capture_default_str();
  sample->add_option("--seed", sa->seed, "Sampling seed")->capture_default_str();
  sample->add_option("--rank", sa->rank, "Data-parallel rank")->capture_default_str();
  sample->add_option("--world-size", sa->world_size, "Data-parallel ranks")->capture_default_str();
  sample->add_option("--upsample", sa->upsample, "Length-bucket weights, e.g. 0:1,16384:4");
  sample->add_option("--cursor", sa->cursor, "Resume from a cursor (JSON)");
  sample->add_option("--tokenizer", sa->tokenizer, "Decode the sequences with this model");
  sample->callback([sa] { run_sample(*sa); });
});

}  // namespace
}  // namespace longctx::cli
