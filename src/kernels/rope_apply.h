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
  double xpos_scale_base = 512.0; // xPos: q *= zeta^(t/scale_base), k *= zeta^(-t/scale_base)
};

// cos/sin (and xPos scales) for positions [0, n_positions).
struct RopeCache {
  int head_dim = 0;
  int n_pairs = 0;  // rotated pairs (<= head_dim / 2)
  int64_t n_positions = 0;
  std::vector<float> cos, sin;        // (n_positions, n_pairs), attention factor folded in
  std::vector<float> q_scale, k_scale; // empty, or (n_positions, n_pairs) xPos scales
  bool has_xpos() const { return !q_scale.empty(); }
};

// Throws Error if n_pairs > head_dim / 2, head_dim is odd or n_positions < 1.
RopeCache rope_cache_build(const RopeFreqs& freqs, int head_dim, int64_t n_positions);

enum class RopeRole { kQuery, kKey };  // selects the xPos scale direction

// x (B, T, n_heads, head_dim) rotated in place (out may equal in).
// positions (B, T) or null: null means position t for row t (plus pos_offset).
void rope_forward(float* out, const float* in, const RopeCache& cache, const int32_t* positions,
                  int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role);
// din (B, T, n_heads, head_dim) = R^T dout (din may equal dout).
void rope_backward(float* din, const float* dout, const RopeCache& cache, const int32_t* positions,
                   int64_t pos_offset, int64_t B, int64_t T, int n_heads, RopeRole role);

}  // namespace longctx::kernels
