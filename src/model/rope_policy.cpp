#include "model/rope_policy.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace longctx::model {

kernels::RopeFreqs rope_freqs_for_length(const ModelConfig& config, int64_t length) {
  return rope::rope_frequencies(config.rope, static_cast<int>(config.resolved_head_dim()), length);
}

bool rope_depends_on_length(const ModelConfig& config) {
  return config.rope.kind == rope::RopeKind::kDynamic || config.rope.kind == rope::RopeKind::kLongRope;
}

bool same_rope_freqs(const kernels::RopeFreqs& a, const kernels::RopeFreqs& b) {
  return a.theta == b.theta && a.attention_factor == b.attention_factor &&
         a.xpos_zeta == b.xpos_zeta && a.xpos_scale_base == b.xpos_scale_base;
}

void rerotate_keys(KVCache& cache, const kernels::RopeFreqs& to) {
  const kernels::RopeFreqs* from = cache.key_freqs();
  if (from == nullptr || cache.position() == 0) {
    cache.set_key_freqs(to);
    return;
  }
  if (same_rope_freqs(*from, to)) return;
  LONGCTX_CHECK(from->xpos_zeta == to.xpos_zeta && from->xpos_scale_base == to.xpos_scale_base &&
                    from->theta.size() == to.theta.size(),
                "rerotate_keys: the position encoding changed its xPos decay or rotated width");
  const ModelConfig& c = cache.config();
  const int64_t D = c.resolved_head_dim(), Hkv = c.n_kv_heads, KD = Hkv * D, P = cache.position();
  const int64_t pairs = static_cast<int64_t>(to.theta.size());
  const double ratio = to.attention_factor / from->attention_factor;
  const kernels::StorageType type = cache.types().k;
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(KD));  // (Hkv, D) one key row
    std::vector<float> cs(static_cast<size_t>(2 * pairs));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < P; ++t) {
      // k_new = (a'/a) R((theta' - theta) t) k_old: rotations of one plane compose.
      for (int64_t j = 0; j < pairs; ++j) {
        const double angle = (to.theta[j] - from->theta[j]) * static_cast<double>(t);
        cs[2 * j] = static_cast<float>(ratio * std::cos(angle));
        cs[2 * j + 1] = static_cast<float>(ratio * std::sin(angle));
      }
      for (int64_t l = 0; l < c.n_layers; ++l) {
        uint8_t* stored = cache.k_rows(l) + static_cast<size_t>(t) * cache.k_row_bytes();
        kernels::dequantize_rows(row.data(), type, stored, cache.k_row_bytes(), 1, KD);
        for (int64_t h = 0; h < Hkv; ++h) {
          float* k = row.data() + h * D;
          for (int64_t j = 0; j < pairs; ++j) {
            const float x0 = k[2 * j], x1 = k[2 * j + 1], co = cs[2 * j], si = cs[2 * j + 1];
            k[2 * j] = x0 * co - x1 * si;
            k[2 * j + 1] = x0 * si + x1 * co;
          }
        }
        kernels::quantize_rows(stored, type, row.data(), 1, KD);
      }
    }
  }
  cache.set_key_freqs(to);
}

void shift_context(KVCache& cache, int64_t n_keep, int64_t n_discard) {
  const int64_t P = cache.position();
  LONGCTX_CHECK(n_keep >= 0 && n_discard > 0 && n_keep + n_discard <= P,
                "shift_context: keep %lld and discard %lld of %lld cached tokens",
                static_cast<long long>(n_keep), static_cast<long long>(n_discard), static_cast<long long>(P));
  const kernels::RopeFreqs* f = cache.key_freqs();
  LONGCTX_CHECK(f != nullptr, "shift_context: the cache holds no keys");
  LONGCTX_CHECK(f->xpos_zeta.empty(), "context shift is not supported with xPos position encodings");
  const ModelConfig& c = cache.config();
  const int64_t D = c.resolved_head_dim(), Hkv = c.n_kv_heads, KD = Hkv * D;
  const int64_t pairs = static_cast<int64_t>(f->theta.size());
  std::vector<float> cs(static_cast<size_t>(2 * pairs));  // rotation by -n_discard positions
  for (int64_t j = 0; j < pairs; ++j) {
    const double angle = -f->theta[j] * static_cast<double>(n_discard);
    cs[2 * j] = static_cast<float>(std::cos(angle));
    cs[2 * j + 1] = static_cast<float>(std::sin(angle));
  }
  const kernels::StorageType kt = cache.types().k;
  const size_t krb = cache.k_row_bytes(), vrb = cache.v_row_bytes();
  std::vector<float> row(static_cast<size_t>(KD));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    uint8_t* k = cache.k_rows(l);
    uint8_t* v = cache.v_rows(l);
    for (int64_t t = n_keep + n_discard; t < P; ++t) {
      const int64_t to = t - n_discard;
      kernels::dequantize_rows(row.data(), kt, k + t * krb, krb, 1, KD);
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t j = 0; j < pairs; ++j) {
          float* x = row.data() + h * D + 2 * j;
          const float x0 = x[0], x1 = x[1], co = cs[2 * j], si = cs[2 * j + 1];
          x[0] = x0 * co - x1 * si;
          x[1] = x0 * si + x1 * co;
        }
      kernels::quantize_rows(k + to * krb, kt, row.data(), 1, KD);
      std::memmove(v + to * vrb, v + t * vrb, vrb);
    }
  }
  cache.truncate(P - n_discard);
}

}  // namespace longctx::model
