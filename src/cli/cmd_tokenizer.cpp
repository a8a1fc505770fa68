// `longctx tokenizer train|encode`: train a SentencePiece BPE tokenizer the way LLaMA's was
// (byte fallback, split digits, no normalisation), and encode text with a model.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/registry.h"
#include "core/error.h"
#include "data/text_input.h"
#include "io/tokenizer.h"
#include "io/tokenizer_train.h"

namespace longctx::cli {
namespace {

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string output;
  io::TokenizerTrainOptions options;
  data::TextInputOptions input;
  double max_mb = 200;
};

void run_train(TrainArgs a) {
  a.options.max_bytes = static_cast<int64_t>(a.max_mb * 1e6);
  data::InputReport report;
  auto files = data::expand_inputs(a.inputs, a.input, report);
  data::DocumentReader reader(std::move(files), a.input);
  const auto stats = io::train_tokenizer(
      [&](const std::function<bool(const std::string&)>& emit) {
        data::Document d;
        while (reader.next(d)) {
          size_t pos = 0;
          while (pos < d.text.size()) {
            size_t end = d.text.find('\n', pos);
            if (end == std::string::npos) end = d.text.size();
            if (end > pos && !emit(d.text.substr(pos, end - pos))) return;
            pos = end + 1;
          }
        }
      },
      a.options, a.output);
  reader.report().merge(report);
  const io::Tokenizer tok = io::Tokenizer::from_file(a.output);
  std::printf("tokenizer train: %s: vocab %d (BPE, byte fallback %s), %lld lines / %.2f MB of "
              "%lld files in %.1f s\n", a.output.c_str(), tok.vocab_size(),
              a.options.byte_fallback ? "on" : "off", static_cast<long long>(stats.sentences),
              static_cast<double>(stats.bytes) / 1e6,
              static_cast<long long>(reader.report().files), stats.seconds);
  for (const auto& [reason, n] : reader.report().skipped)
    std::printf("  skipped %lld: %s\n", static_cast<long long>(n), reason.c_str());
}

struct EncodeArgs {
  std::string model, text;
  bool bos = false, pieces = false;
};

void run_encode(const EncodeArgs& a) {
  const io::Tokenizer tok = io::Tokenizer::from_file(a.model);
  const auto ids = tok.encode(a.text, a.bos);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (a.pieces)
      std::printf("%s%d:%s", i ? " " : "", ids[i], tok.piece(ids[i]).c_str());
    else
      std::printf("%s%d", i ? " " : "", ids[i]);
  }
  std::printf("\n");
}

CommandRegistrar reg("tokenizer", [](CLI::App& app) {
  auto* group = app.add_subcommand("tokenizer", "Train and use SentencePiece tokenizers");
  group->require_subcommand(1);

  auto ta = std::make_shared<TrainArgs>();
  auto* train = group->add_subcommand("train", "Train a SentencePiece BPE tokenizer (as LLaMA's)");
  train->add_option("inputs", ta->inputs, "Text files or folders (.gz and JSONL too)")->required();
  train->add_option("-o,--out", ta->output, "Output .model")->required();
  train->add_option("--vocab-size", ta->options.vocab_size, "Vocabulary size")
      ->capture_default_str();
  train->add_option("--character-coverage", ta->options.character_coverage,
                    "Share of characters covered by pieces")->capture_default_str();
  train->add_flag("!--no-byte-fallback", ta->options.byte_fallback,
                  "Map unknown characters to <unk> instead of UTF-8 byte pieces");
  train->add_flag("!--no-split-digits", ta->options.split_digits, "Allow multi-digit pieces");
  train->add_option("--max-mb", ta->max_mb, "Training text cap, MB")->capture_default_str();
  train->add_option("--include", ta->input.include, "Filename patterns inside folders");
  train->add_option("--jsonl-field", ta->input.jsonl_field, "Text field of JSONL records")
      ->capture_default_str();
  train->add_option("--seed", ta->options.seed, "SentencePiece seed")->capture_default_str();
  train->callback([ta] { run_train(*ta); });

  auto ea = std::make_shared<EncodeArgs>();
  auto* enc = group->add_subcommand("encode", "Print the token ids of a text");
  enc->add_option("--model", ea->model, "SentencePiece .model")->required();
  enc->add_option("text", ea->text, "Text to encode")->required();
  enc->add_flag("--bos", ea->bos, "Prepend BOS");
  enc->add_flag("--pieces", ea->pieces, "Print id:piece pairs");
  enc->callback([ea] { run_encode(*ea); });
});

}  // namespace
}  // namespace longctx::cli
