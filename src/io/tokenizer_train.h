// Training a SentencePiece BPE tokenizer the way LLaMA's was trained (model_type bpe,
// byte fallback, digits split, no text normalisation, whitespace kept as is), through the
// Debian SentencePiece library. The trained model loads with io::Tokenizer.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace longctx::io {

struct TokenizerTrainOptions {
  int vocab_size = 4096;               // pieces, including <unk> <s> </s> and the 256 bytes
  double character_coverage = 0.99995; // share of characters covered by pieces (LLaMA's value)
  bool byte_fallback = true;           // unknown characters become <0xNN> byte pieces
  bool split_digits = true;            // every digit its own piece (LLaMA)
  int64_t max_sentences = 2'000'000;   // training lines kept; the source is cut off after this
  int64_t max_bytes = 200'000'000;     // ... or after this many bytes, whichever comes first
  int max_sentence_bytes = 4192;       // longer lines are cut into pieces of this size
  int num_threads = 0;                 // 0 = longctx::num_threads()
  uint64_t seed = 1;                   // SentencePiece's sampling seed
  bool quiet = true;                   // silence SentencePiece's progress log
};

struct TokenizerTrainStats {
  int64_t sentences = 0;   // lines handed to the trainer
  int64_t bytes = 0;       // bytes of those lines
  double seconds = 0;
};

// Produces the training text: calls `emit(line)` for each line, stopping when emit returns
// false (the byte or line budget is spent).
using LineSource = std::function<void(const std::function<bool(const std::string&)>& emit)>;

// The SentencePiece trainer itself: `args` are its flags (name -> value, e.g. "model_type" ->
// "bpe"), `lines` its sentences. Returns the serialized model proto; throws Error naming `what`.
std::string train_sentencepiece_model(const std::vector<std::string>& lines,
                                      const std::unordered_map<std::string, std::string>& args,
                                      const std::string& what);

// Trains and writes the model to `model_path` (written to a temporary name, then renamed).
// Throws longctx::Error naming `model_path` or the bad option.
TokenizerTrainStats train_tokenizer(const LineSource& source, const TokenizerTrainOptions& options,
                                    const std::string& model_path);

}  // namespace longctx::io
