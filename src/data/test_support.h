// Shared by the data tests only: a small SentencePiece BPE tokenizer trained once per test
// binary on seeded synthetic English-like text, and temporary folders.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <unistd.h>
#include <random>
#include <string>

#include "io/tokenizer.h"
#include "io/tokenizer_train.h"

namespace longctx::data::testing {

// Seeded pseudo-English: sentences of 4-14 words, paragraphs of 3-8 sentences.
inline std::string synthetic_text(uint64_t seed, size_t bytes) {
  static const char* kWords[] = {
      "the", "a", "river", "stone", "light", "over", "under", "quickly", "slowly", "green",
      "blue", "house", "garden", "window", "letter", "travel", "morning", "evening", "silver",
      "mountain", "voice", "answer", "question", "winter", "summer", "child", "old", "new",
      "small", "great", "and", "of", "to", "in", "with", "was", "is", "were", "had", "from",
      "by", "their", "his", "her", "they", "she", "he", "it", "that", "this", "there",
      "forest", "bridge", "harbour", "lantern", "kingdom", "number", "seven", "eleven",
      "remember", "forget", "carried", "opened", "closed", "walked", "spoke", "heard"};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    const int sentences = 3 + static_cast<int>(rng() % 6);
    for (int s = 0; s < sentences; ++s) {
      const int words = 4 + static_cast<int>(rng() % 11);
      for (int w = 0; w < words; ++w) {
        std::string word = kWords[rng() % std::size(kWords)];
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        out += word;
        out += w + 1 < words ? " " : ". ";
      }
    }
    out += "\n\n";
  }
  return out;
}

inline std::filesystem::path temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("longctx-data-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Trained once (vocab 512, about a second); reused by every test in the binary.
inline const io::Tokenizer& test_tokenizer() {
  static const io::Tokenizer tok = [] {
    const auto dir = temp_dir("tokenizer");
    const std::string text = synthetic_text(7, 300000) + "Numbers 12345 and 67890, commas; (brackets) \"quotes\"?!\n";
    io::TokenizerTrainOptions opt;
    opt.vocab_size = 512;
    opt.num_threads = 2;
    const std::string model = (dir / "t.model").string();
    io::train_tokenizer(
        [&](const std::function<bool(const std::string&)>& emit) {
          size_t pos = 0;
          while (pos < text.size()) {
            size_t end = text.find('\n', pos);
            if (end == std::string::npos) end = text.size();
            if (end > pos && !emit(text.substr(pos, end - pos))) return;
            pos = end + 1;
          }
        },
        opt, model);
    return io::Tokenizer::from_file(model);
  }();
  return tok;
}

}  // namespace longctx::data::testing
