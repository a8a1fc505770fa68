// RoPE tables and rotation. Angles are formed in double (pos * theta reaches 1e5+
// radians at long context, where float angles would lose all phase precision) and
// only cos/sin are stored as float.
//
// xPos and float range: the contract scales q by zeta^(t/sb) and k by zeta^(-t/sb).
// With zeta_0 = 0.4/1.4 and sb = 512 that is e^(1.25 t / 512): e^80 at t = 32768 and
// past float's e^88 soon after. Only the products q_scale(n) * k_scale(m) =
// zeta^((n-m)/sb) matter to attention, so the tables are centred: position t gets
// exponent (t - c) / sb with c = n_positions / 2 (kXposCenter below), halving the
// range. A table whose |log scale| would still exceed kXposMaxLog throws Error.
// q and k must therefore be rotated with the same cache (same n_positions).
#include "kernels/rope_apply.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace longctx::kernels {

namespace {

constexpr double kXposMaxLog = 84.0;  // e^84 ~ 3e36: leaves ~100x of float headroom for q, k

int64_t xpos_center(int64_t n_positions) { return n_positions / 2; }

// Validates positions up front (never throws inside a parallel region).
void check_positions(const RopeCache& cache, const int32_t* positions, int64_t pos_offset,
                     int64_t B, int64_t T, const char* who) {
  const int64_t lo = cache.first_position, hi = lo + cache.n_positions;
  if (positions) {
    for (int64_t i = 0; i < B * T; ++i)
      LONGCTX_CHECK(positions[i] >= lo && positions[i] < hi,
                    "%s: positions[%ld] = %d outside the RoPE cache [%ld, %ld)", who,
                    static_cast<long>(i), positions[i], static_cast<long>(lo), static_cast<long>(hi));
  } else if (T > 0) {
    LONGCTX_CHECK(pos_offset >= lo && pos_offset + T <= hi,
                  "%s: positions [%ld, %ld) outside the RoPE cache [%ld, %ld)", who,
                  static_cast<long>(pos_offset), static_cast<long>(pos_offset + T),
                  static_cast<long>(lo), static_cast<long>(hi));
  }
}

// sign = +1 applies R, -1 applies R^T (the rotation reversed, same xPos scale).
void rope_rotate(float* out, const float* in, const RopeCache& cache, const int32_t* positions,
                 int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role, float sign,
                 const char* who) {
  LONGCTX_CHECK(cache.head_dim > 0 && cache.n_pairs <= cache.head_dim / 2,
                "%s: RoPE cache is not built (head_dim %d, n_pairs %d)", who, cache.head_dim,
                cache.n_pairs);
  check_positions(cache, positions, pos_offset, B, T, who);
  const int D = cache.head_dim, P = cache.n_pairs;
  const bool xpos = cache.has_xpos();
  const float* scale_table = role == RopeRole::kQuery ? cache.q_scale.data() : cache.k_scale.data();
#pragma omp parallel for schedule(static) if (B * T * n_heads * D > (1 << 15))
  for (int64_t row = 0; row < B * T; ++row) {
    const int64_t pos = (positions ? positions[row] : row % T + pos_offset) - cache.first_position;
    const float* cs = cache.cos.data() + pos * P;
    const float* sn = cache.sin.data() + pos * P;
    const float* sc = xpos ? scale_table + pos * P : nullptr;
    for (int h = 0; h < n_heads; ++h) {
      const float* x = in + (row * n_heads + h) * D;
      float* y = out + (row * n_heads + h) * D;
      for (int j = 0; j < P; ++j) {
        float c = cs[j], s = sign * sn[j];
        if (xpos) {
          c *= sc[j];
          s *= sc[j];
        }
        const float x0 = x[2 * j], x1 = x[2 * j + 1];
        y[2 * j] = x0 * c - x1 * s;
        y[2 * j + 1] = x0 * s + x1 * c;
      }
      if (y != x && 2 * P < D)  // partial rotary: the tail passes through
        std::memcpy(y + 2 * P, x + 2 * P, static_cast<size_t>(D - 2 * P) * sizeof(float));
    }
  }
}

}  // namespace

RopeCache rope_cache_build(const RopeFreqs& freqs, int head_dim, int64_t n_positions,
                           int64_t first_position) {
  const int P = static_cast<int>(freqs.theta.size());
  LONGCTX_CHECK(head_dim > 0 && head_dim % 2 == 0,
                "rope_cache_build: head_dim must be positive and even, got %d", head_dim);
  LONGCTX_CHECK(P <= head_dim / 2, "rope_cache_build: %d rotated pairs exceed head_dim / 2 = %d", P,
                head_dim / 2);
  LONGCTX_CHECK(n_positions >= 1, "rope_cache_build: n_positions must be >= 1, got %ld",
                static_cast<long>(n_positions));
  LONGCTX_CHECK(first_position >= 0, "rope_cache_build: first_position must be >= 0, got %ld",
                static_cast<long>(first_position));
  const bool xpos = !freqs.xpos_zeta.empty();
  if (xpos) {
    LONGCTX_CHECK(first_position == 0,
                  "rope_cache_build: an xPos table is centred on its span and must start at "
                  "position 0, got %ld",
                  static_cast<long>(first_position));
    LONGCTX_CHECK(static_cast<int>(freqs.xpos_zeta.size()) == P,
                  "rope_cache_build: xpos_zeta has %zu entries but theta has %d",
                  freqs.xpos_zeta.size(), P);
    LONGCTX_CHECK(freqs.xpos_scale_base > 0.0,
                  "rope_cache_build: xpos_scale_base must be positive, got %g",
                  freqs.xpos_scale_base);
    const int64_t c = xpos_center(n_positions);
    const double max_dist = static_cast<double>(std::max(c, n_positions - 1 - c));
    for (int j = 0; j < P; ++j) {
      const double z = freqs.xpos_zeta[static_cast<size_t>(j)];
      LONGCTX_CHECK(z > 0.0, "rope_cache_build: xpos_zeta[%d] = %g must be positive", j, z);
      const double max_log = std::fabs(std::log(z)) * max_dist / freqs.xpos_scale_base;
      LONGCTX_CHECK(max_log <= kXposMaxLog,
                    "rope_cache_build: xPos scale zeta[%d]^(%g / %g) leaves float range at "
                    "n_positions %ld (|log scale| %.1f > %.0f)",
                    j, max_dist, freqs.xpos_scale_base, static_cast<long>(n_positions), max_log,
                    kXposMaxLog);
    }
  }
  RopeCache cache;
  cache.head_dim = head_dim;
  cache.n_pairs = P;
  cache.n_positions = n_positions;
  cache.first_position = first_position;
  const size_t n = static_cast<size_t>(n_positions) * static_cast<size_t>(P);
  cache.cos.resize(n);
  cache.sin.resize(n);
  if (xpos) {
    cache.q_scale.resize(n);
    cache.k_scale.resize(n);
  }
  const double a = freqs.attention_factor;
  const int64_t center = xpos_center(n_positions);
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (int64_t p = 0; p < n_positions; ++p) {
    for (int j = 0; j < P; ++j) {
      const size_t i = static_cast<size_t>(p) * static_cast<size_t>(P) + static_cast<size_t>(j);
      const double ang = static_cast<double>(first_position + p) * freqs.theta[static_cast<size_t>(j)];
      cache.cos[i] = static_cast<float>(std::cos(ang) * a);
      cache.sin[i] = static_cast<float>(std::sin(ang) * a);
      if (xpos) {
        const double e = static_cast<double>(p - center) / freqs.xpos_scale_base;
        const double lz = std::log(freqs.xpos_zeta[static_cast<size_t>(j)]);
        cache.q_scale[i] = static_cast<float>(std::exp(e * lz));
        cache.k_scale[i] = static_cast<float>(std::exp(-e * lz));
      }
    }
  }
  return cache;
}

void rope_forward(float* out, const float* in, const RopeCache& cache, const int32_t* positions,
                  int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role) {
  rope_rotate(out, in, cache, positions, pos_offset, B, T, n_heads, role, 1.0f, "rope_forward");
}

void rope_backward(float* din, const float* dout, const RopeCache& cache, const int32_t* positions,
                   int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role) {
  rope_rotate(din, dout, cache, positions, pos_offset, B, T, n_heads, role, -1.0f,
              "rope_backward");
}

}  // namespace longctx::kernels
