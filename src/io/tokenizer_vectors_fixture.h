// Test-only: llama.cpp's tokenizer conformance vectors (test-tokenizer-0 format) in the
// shared data folder. <base>.inp holds texts, each followed by a line "__ggml_vocab_test__";
// <base>.out holds one line of space-separated ids per text.
#pragma once
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace longctx::test_fixtures {

struct TokenizerVector {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::vector<TokenizerVector> read_tokenizer_vectors(const std::string& base) {
  std::ifstream inp(base + ".inp"), out(base + ".out");
  std::vector<TokenizerVector> v;
  std::string line, text;
  bool first = true;
  while (std::getline(inp, line)) {
    if (line == "__ggml_vocab_test__") {
      TokenizerVector t;
      t.text = text;
      std::string ids;
      std::getline(out, ids);
      std::istringstream is(ids);
      int32_t id;
      while (is >> id) t.ids.push_back(id);
      v.push_back(std::move(t));
      text.clear();
      first = true;
      continue;
    }
    if (!first) text += '\n';
    text += line;
    first = false;
  }
  return v;
}

}  // namespace longctx::test_fixtures
