// Test-only helpers for the serve layer: temporary folders and a small random model with a
// Q8_0-compatible shape saved as GGUF together with an in-memory tokenizer (no shared data).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "io/model_io.h"
#include "io/tiny_tokenizer_fixture.h"
#include "model/model_test_util.h"

namespace longctx::serve::test {

namespace fs = std::filesystem;

inline fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("longctx_serve_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// dim 64, 2 layers, 4 heads (2 kv heads, head_dim 16), ffn 96, vocab 96: every row length is
// a multiple of 32 (Q8_0 weights and caches), trained context 128.
inline model::ModelConfig small_config() {
  model::ModelConfig c;
  c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.ffn_dim = 96, c.vocab_size = 96,
  c.max_seq_len = 128;
  return c;
}

// Saves a random model of small_config() with a 96-piece tokenizer as f32 GGUF at path.
inline model::LlamaModel save_random_gguf(const std::string& path, uint64_t seed) {
  model::LlamaModel m = model::test::random_model(small_config(), seed);
  const io::Tokenizer tok = test_fixtures::tiny_tokenizer(96);
  io::save_gguf_model(m, &tok, path);
  return m;
}

}  // namespace longctx::serve::test
