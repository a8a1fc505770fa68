// Internal to the attention kernels: the tile sizes, the log2-unit constants,
// segment ranges and the causal/segment mask of a score row, shared by the
// tiled forward and backward (attention_forward-inl.h, attention_backward-inl.h).
// The SIMD tile products and the vector exp2 are in attention_tiles-inl.h
// (compiled once per target).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

namespace longctx::kernels::attention_detail {

// Keys per tile (Bc). Multiple of every lane count (4, 8 or 16).
constexpr int64_t kKeyTile = 128;
// Query rows per tile: positions x the query heads of one kv group (Br).
constexpr int64_t kQueryRowsTarget = 128;

// Keys per segment when a group's keys are packed a segment at a time (a prefill chunk
// against a long cache): 2 * 4096 * Dp floats, 2 MB at head_dim 64, instead of 2 * T_kv * Dp.
constexpr int64_t kSegmentKeys = 4096;

// Key tiles the forward packs at once for a (batch, kv head) group of n_blocks query blocks
// of rows_max rows against n_tiles key tiles: a segment when the queries are few against
// many keys (each block then keeps its running state, rows_max x (2 Dp + 2) floats, between
// segments), else all of them (training: the blocks' states would outweigh the saving).
inline int64_t forward_pack_tiles(int64_t n_blocks, int64_t rows_max, int64_t n_tiles) {
  const int64_t seg_tiles = kSegmentKeys / kKeyTile;
  return n_tiles > seg_tiles && 4 * n_blocks * rows_max <= n_tiles * kKeyTile ? seg_tiles : n_tiles;
}

// Scores are kept in log2 units (q pre-scaled by scale*log2(e)) so the
// exponentials are exp2; ln2 converts back.
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// min/max of seg[first..last] (inclusive).
inline void segment_range(const int32_t* seg, int64_t first, int64_t last, int32_t& lo,
                          int32_t& hi) {
  lo = hi = seg[first];
  for (int64_t i = first + 1; i <= last; ++i) {
    lo = std::min(lo, seg[i]);
    hi = std::max(hi, seg[i]);
  }
}

// Sets to -inf the scores row (cols) of the query at position pos, of segment q_seg,
// against keys k0 .. k0+cols, of which the first nk exist: keys after pos (causal),
// the padding past nk, and with k_seg (T_kv segment ids, or null) keys of another
// segment.
inline void mask_score_row(float* row, int64_t cols, int64_t k0, int64_t nk, int64_t pos,
                           const int32_t* k_seg, int32_t q_seg) {
  const int64_t visible = std::max<int64_t>(0, std::min(nk, pos - k0 + 1));  // causal limit
  // Two loops, not one testing k_seg inside: GCC vectorises the fused loop with masked
  // loads of k_seg, which with k_seg null are all-false-mask loads near address 0; the
  // build machine's Zen 3 takes a slow path on those, and the fused loop made the forward
  // and backward ~20% slower at T=1024 (attention_bench, 2026-11-30).
  if (k_seg) {
    for (int64_t j = 0; j < cols; ++j)
      if (j >= visible || k_seg[k0 + j] != q_seg) row[j] = kNegInf;
  } else {
    for (int64_t j = visible; j < cols; ++j) row[j] = kNegInf;
  }
}

}  // namespace longctx::kernels::attention_detail
