// Synthetic long-context tasks, exact in tokens: the prompt of every example, encoded with BOS
// (as a model receives it), is exactly `target_tokens` long. Each generator is seeded; the
// same options give the same example.
//   passkey:        the standard filler with "The pass key is N. Remember it. N is the pass
//                   key." at a depth; question "What is the pass key? The pass key is".
//   needle:         a needle sentence at a depth percentage inside real text, with question
//                   and answer (a random city and 7-digit number, or a given sentence).
//   first_sentence: a document prefix followed by an instruction to return its first sentence
//                   (the task LLaMA 2 Long reports); the answer is that sentence.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace longctx::io {
class Tokenizer;
}

namespace longctx::data {

struct TaskExample {
  std::string task;
  std::string prompt;
  std::string answer;
  int64_t tokens = 0;   // encode(prompt, BOS) length = the requested target
  double depth = -1;    // where the key/needle sits, 0..1 of the haystack (-1: n/a)
  uint64_t seed = 0;
  nlohmann::json to_json() const;
};

struct PasskeyOptions {
  int64_t target_tokens = 4096;
  double depth = -1;  // 0..1, or < 0 for uniform
  uint64_t seed = 0;
};
inline constexpr char kPasskeyFiller[] =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
inline constexpr char kPasskeyQuestion[] = "What is the pass key? The pass key is";
TaskExample make_passkey(const io::Tokenizer& tokenizer, const PasskeyOptions& options);

struct NeedleOptions {
  int64_t target_tokens = 4096;
  double depth = -1;       // 0..1, or < 0 for uniform
  uint64_t seed = 0;
  std::string needle;      // all three empty = a random "special magic number" needle
  std::string question;
  std::string answer;
};
// `haystack` is real long text (it is repeated if shorter than needed).
TaskExample make_needle(const io::Tokenizer& tokenizer, const std::string& haystack,
                        const NeedleOptions& options);

struct FirstSentenceOptions {
  int64_t target_tokens = 4096;
  uint64_t seed = 0;
};
// The first sentence of `text`: leading whitespace skipped, up to the first . ! or ? that
// follows at least two letters and precedes whitespace (at most 400 bytes), internal whitespace
// collapsed to single spaces.
std::string first_sentence(const std::string& text);
// Throws Error when the document is too short for the target or has no first sentence.
TaskExample make_first_sentence(const io::Tokenizer& tokenizer, const std::string& document,
                                const FirstSentenceOptions& options);

}  // namespace longctx::data
