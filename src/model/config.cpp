#include "model/config.h"

#include <cstdint>

#include "core/error.h"

namespace longctx::model {

namespace {
void check_positive(int64_t v, const char* field) {
  LONGCTX_CHECK(v > 0, "ModelConfig.%s: must be positive, got %lld", field,
                static_cast<long long>(v));
}
}  // namespace

void ModelConfig::validate() const {
  check_positive(dim, "dim");
  check_positive(n_layers, "n_layers");
  check_positive(n_heads, "n_heads");
  check_positive(n_kv_heads, "n_kv_heads");
  check_positive(ffn_dim, "ffn_dim");
  check_positive(vocab_size, "vocab_size");
  check_positive(max_seq_len, "max_seq_len");
  LONGCTX_CHECK(n_heads % n_kv_heads == 0,
                "ModelConfig.n_kv_heads: %lld does not divide n_heads %lld",
                static_cast<long long>(n_kv_heads), static_cast<long long>(n_heads));
  LONGCTX_CHECK(head_dim >= 0, "ModelConfig.head_dim: must be >= 0 (0 = dim / n_heads), got %lld",
                static_cast<long long>(head_dim));
  if (head_dim == 0) {
    LONGCTX_CHECK(dim % n_heads == 0,
                  "ModelConfig.head_dim: 0 (derived) needs n_heads %lld to divide dim %lld",
                  static_cast<long long>(n_heads), static_cast<long long>(dim));
  }
  const int64_t d = resolved_head_dim();
  LONGCTX_CHECK(d > 0 && d % 2 == 0, "ModelConfig.head_dim: %lld must be positive and even (RoPE pairs)",
                static_cast<long long>(d));
  LONGCTX_CHECK(vocab_size <= INT32_MAX, "ModelConfig.vocab_size: %lld exceeds int32 token ids",
                static_cast<long long>(vocab_size));
  LONGCTX_CHECK(norm_eps > 0.0f, "ModelConfig.norm_eps: must be positive, got %g",
                static_cast<double>(norm_eps));
  LONGCTX_CHECK(rope.base > 0.0, "ModelConfig.rope.base: must be positive, got %g", rope.base);
  LONGCTX_CHECK(rope.partial_rotary > 0.0 && rope.partial_rotary <= 1.0,
                "ModelConfig.rope.partial_rotary: must be in (0, 1], got %g", rope.partial_rotary);
}

int64_t ModelConfig::num_parameters() const {
  const int64_t C = dim, D = resolved_head_dim(), F = ffn_dim, V = vocab_size;
  const int64_t per_layer = 2 * C + (n_heads * D + 2 * n_kv_heads * D) * C + C * n_heads * D +
                            3 * F * C;
  return V * C + n_layers * per_layer + C + (tied_embeddings ? 0 : V * C);
}

ModelConfig preset_config(const std::string& name) {
  ModelConfig c;
  c.max_seq_len = 32768;
  if (name == "tiny") {
    c.dim = 256, c.n_layers = 4, c.n_heads = 8, c.n_kv_heads = 4, c.ffn_dim = 688,
    c.vocab_size = 4096;
  } else if (name == "small") {
    c.dim = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 4, c.ffn_dim = 2048,
    c.vocab_size = 32000;
  } else if (name == "test") {
    c.dim = 32, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.ffn_dim = 48,
    c.vocab_size = 64, c.max_seq_len = 256;
  } else {
    throw_error("unknown model preset '%s' (known: tiny, small, test)", name.c_str());
  }
  return c;
}

std::vector<std::string> preset_names() { return {"tiny", "small", "test"}; }

}  // namespace longctx::model
