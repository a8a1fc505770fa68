// Rotary position embedding application. The frequencies come from rope/
// (RopeSpec -> RopeFreqs); this file only turns them into cos/sin tables for a
// range of positions and rotates. Pair layout: interleaved (see README.md).
#pragma once
#include <cstdint>
#include <vector>

namespace longctx::kernels {

// Per-pair inputs produced by the position-encoding module.
struct RopeFreqs {
  std::vector<double> theta;      // (n_pairs) angle per position for each rotated pair; pairs
                                  // beyond theta.size() (partial rotary) are left unrotated
  double attention_factor = 1.0;  // multiplies cos and sin (YaRN / LongRoPE temperature)
  std::vector<double> xpos_zeta;  // empty, or (n_pairs) xPos decay base per pair
  double xpos_scale_base = 512.0; // xPos: q *= zeta^((t-c)/scale_base), k *= zeta^(-(t-c)/scale_base)
                                  // with c = n_positions/2 of the cache (see rope_cache_build)
};

// cos/sin (and xPos scales) for positions [0, n_positions).
struct RopeCache {
  int head_dim = 0;
  int n_pairs = 0;  // rotated pairs (<= head_dim / 2)
  int64_t n_positions = 0;
  int64_t first_position = 0;  // row i holds position first_position + i
  std::vector<float> cos, sin;        // (n_positions, n_pairs), attention factor folded in
  std::vector<float> q_scale, k_scale; // empty, or (n_positions, n_pairs) xPos scales
  bool has_xpos() const { return !q_scale.empty(); }
};

// Throws Error if n_pairs > head_dim / 2, head_dim is odd or n_positions < 1.
// xPos scales are centred on c = n_positions/2: q_scale(n) * k_scale(m) = zeta^((n-m)/sb) as the
// method defines, but neither factor overflows float at long context (zeta^(-t/512) alone is
// ~e^80 at t = 32k). q and k must therefore be rotated with the same cache; a cache whose
// centred scales would still leave float range throws Error.
// first_position > 0 builds a window [first, first + n_positions) whose rows equal those of
// a table from 0 (each entry is formed from its absolute position): inference keeps only the
// positions of the current chunk instead of a context-long table. xPos tables, centred on
// their span, must start at 0 (throws Error otherwise).
RopeCache rope_cache_build(const RopeFreqs& freqs, int head_dim, int64_t n_positions,
                           int64_t first_position = 0);

enum class RopeRole { kQuery, kKey };  // selects the xPos scale direction

// x (B, T, n_heads, head_dim) rotated in place (out may equal in).
// positions (B, T) or null: null means position pos_offset + t for row t; when positions
// is given, pos_offset is ignored. Positions outside the cache throw Error.
void rope_forward(float* out, const float* in, const RopeCache& cache, const int32_t* positions,
                  int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role);
// din (B, T, n_heads, head_dim) = R^T dout (din may equal dout).
void rope_backward(float* din, const float* dout, const RopeCache& cache, const int32_t* positions,
                   int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role);

}  // namespace longctx::kernels
