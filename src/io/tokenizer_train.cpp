#include "io/tokenizer_train.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"

namespace longctx::io {
namespace {

// Hands the collected lines to SentencePiece one at a time.
class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return lines_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& lines_;
  size_t index_ = 0;
};

void check_options(const TokenizerTrainOptions& o) {
  LONGCTX_CHECK(o.vocab_size >= 300 && o.vocab_size <= 1'000'000,
                "tokenizer train: --vocab-size %d outside [300, 1000000] (byte fallback alone "
                "needs 259 pieces)", o.vocab_size);
  LONGCTX_CHECK(o.character_coverage > 0.9 && o.character_coverage <= 1.0,
                "tokenizer train: --character-coverage %g outside (0.9, 1]", o.character_coverage);
  LONGCTX_CHECK(o.max_sentences > 0 && o.max_bytes > 0 && o.max_sentence_bytes >= 16,
                "tokenizer train: sample limits must be positive");
}

}  // namespace

std::string train_sentencepiece_model(const std::vector<std::string>& lines,
                                      const std::unordered_map<std::string, std::string>& args,
                                      const std::string& what) {
  VectorSentenceIterator it(lines);
  std::string proto;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  if (!status.ok())
    throw_error("%s: SentencePiece: %s", what.c_str(), status.ToString().c_str());
  return proto;
}

TokenizerTrainStats train_tokenizer(const LineSource& source, const TokenizerTrainOptions& options,
                                    const std::string& model_path) {
  check_options(options);
  Timer timer;
  TokenizerTrainStats stats;
  std::vector<std::string> lines;
  source([&](const std::string& line) {
    if (stats.sentences >= options.max_sentences || stats.bytes >= options.max_bytes) return false;
    // SentencePiece drops lines longer than max_sentence_length; cut them instead so that
    // long unbroken text still teaches merges. Cuts land on UTF-8 character starts.
    size_t pos = 0;
    while (pos < line.size()) {
      size_t end = std::min(line.size(), pos + static_cast<size_t>(options.max_sentence_bytes));
      while (end < line.size() && end > pos && (static_cast<unsigned char>(line[end]) & 0xC0) == 0x80)
        --end;
      if (end == pos) end = std::min(line.size(), pos + options.max_sentence_bytes);
      if (end > pos) {
        lines.emplace_back(line, pos, end - pos);
        stats.bytes += static_cast<int64_t>(end - pos);
        ++stats.sentences;
      }
      pos = end;
    }
    return stats.sentences < options.max_sentences && stats.bytes < options.max_bytes;
  });
  LONGCTX_CHECK(!lines.empty(), "tokenizer train '%s': the training text is empty",
                model_path.c_str());

  const int threads = options.num_threads > 0 ? options.num_threads : num_threads();
  // LLaMA's SentencePiece settings (its tokenizer.model's trainer_spec), vocabulary aside.
  std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"split_digits", options.split_digits ? "true" : "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"remove_extra_whitespaces", "false"},
      {"normalization_rule_name", "identity"},
      {"max_sentence_length", std::to_string(options.max_sentence_bytes)},
      {"input_sentence_size", std::to_string(options.max_sentences)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(threads)},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"hard_vocab_limit", "false"},
      {"minloglevel", options.quiet ? "2" : "0"},
  };
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(options.seed));
  const std::string proto =
      train_sentencepiece_model(lines, args, "tokenizer train '" + model_path + "'");

  const std::string tmp = model_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    LONGCTX_CHECK(out.good(), "tokenizer train: cannot write '%s'", tmp.c_str());
    out.write(proto.data(), static_cast<std::streamsize>(proto.size()));
    out.flush();
    LONGCTX_CHECK(out.good(), "tokenizer train: writing '%s' failed", tmp.c_str());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, model_path, ec);
  LONGCTX_CHECK(!ec, "tokenizer train: renaming '%s' to '%s': %s", tmp.c_str(),
                model_path.c_str(), ec.message().c_str());
  stats.seconds = timer.seconds();
  return stats;
}

}  // namespace longctx::io
