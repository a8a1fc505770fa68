// Internal to the attention kernels: the tiled GQA attention forward with an online
// softmax (FlashAttention-2 style) that both public forwards are, the causal one
// (attention_forward.cpp) and the block one of ring attention
// (attention_block_forward.cpp). They differ only in their geometry
// (attention_geometry.h: where query row 0 sits relative to the keys, the lse
// layout) and in whether the result overwrites or merges into (out, lse).
// Compiled once per Highway target: each kernel file includes this after
// <hwy/foreach_target.h> (per-target include guard, Highway's -inl.h pattern).
//
// A work item is a query block of one (batch, kv head): the block's rows are query
// positions x the G query heads that share the kv head, so each packed key/value
// tile serves all of them. Keys are visited tile by tile with a running max m and
// sum l per row; scores live in log2 units (q is pre-scaled by scale*log2(e)) so
// the exponentials are exp2. The (batch, kv head) groups are processed in turn: the
// group's K^T and V tiles are packed once (2 T_kv Dp floats), then its query blocks
// run in parallel, each thread with a few tiles of scratch (with few query blocks,
// e.g. decode, blocks pack their own tiles instead; with few queries against many
// keys, e.g. a prefill chunk against a long cache, the keys are packed and visited a
// segment at a time). Nothing of size T_q x T_kv is ever formed.
#if defined(LONGCTX_KERNELS_ATTENTION_FORWARD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_ATTENTION_FORWARD_INL_H_
#undef LONGCTX_KERNELS_ATTENTION_FORWARD_INL_H_
#else
#define LONGCTX_KERNELS_ATTENTION_FORWARD_INL_H_
#endif

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/buffer.h"
#include "kernels/attention_bf16-inl.h"
#include "kernels/attention_geometry.h"
#include "kernels/attention_tiles-inl.h"
#include "kernels/attention_tiles.h"
#include "kernels/storage_type-inl.h"
#include "kernels/storage_type.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::attention_simd {
// Internal linkage: each kernel file gets its own copy, so the compiler sees every
// caller and specialises the tile loops as it did when they lived in the kernel file.
namespace {

// One forward call in the terms both public kernels map onto.
struct ForwardArgs {
  float* out = nullptr;      // (B, T_q, H, D)
  float* lse = nullptr;      // (B*H, g.lse_stride), first T_q of each row; may be null unless merge
  const float* q = nullptr;  // (B, T_q, H, D)
  const float* k = nullptr;  // (B, kv_batch) of (T_kv, Hkv, D)
  const float* v = nullptr;  // (B, kv_batch) of (T_kv, Hkv, D)
  const int32_t* q_seg = nullptr;  // (B, q_seg_batch) segment id of each query row, or null
  const int32_t* k_seg = nullptr;  // (B, k_seg_batch) segment id of each key; null iff q_seg is
  int64_t q_seg_batch = 0, k_seg_batch = 0;
  // Keys and values read from a KV cache in its stored type instead of k and v (B = 1):
  // converted to f32 while the tiles are packed.
  const KvRowsView* k_cache = nullptr;
  const KvRowsView* v_cache = nullptr;
  attention_detail::AttentionGeometry g;
  // Merge this result into the (out, lse) of the same queries over other keys instead of
  // overwriting it (attention_block.h).
  bool merge = false;
  // Set by forward_tiles from g.bf16_products: tile products with bf16 inputs
  // (attention_bf16-inl.h), with vdpbf16ps when bf16_dp.
  bool bf16 = false, bf16_dp = false;
};

namespace forward_detail {

using namespace attention_detail;

struct ForwardScratch {
  Buffer<float> row;   // (Dp) one cache row converted to f32
  Buffer<float> q;     // (rows, Dp) query rows scaled by scale*log2(e)
  Buffer<float> s;     // (rows, Bc) scores, then probabilities
  Buffer<float> o;     // (rows, Dp) unnormalised output accumulator
  Buffer<float> m, l;  // (rows) running max (log2 units) and running sum
  Buffer<float> kt;    // (D, Bc) key tile transposed, in strips, when not packed per group
  Buffer<float> v;     // (Bc, Dp) value tile, in strips, when not packed per group
  // bf16 products: a second converted row, one row's pairs, the scaled queries' pairs
  // (rows, D2), the probabilities' pairs (rows, Bc/2) and the own tiles' (D2, Bc) and
  // (Bc/2, Dp) pair strips.
  Buffer<float> row_hi;
  Buffer<uint32_t> pairs, q2, sp, kt2, v2;
  ForwardScratch(int64_t rows, int64_t D, int64_t Dp, bool own_tiles, bool bf16)
      : row(Dp),
        q(rows * Dp),
        s(rows * kKeyTile),
        o(rows * Dp),
        m(rows),
        l(rows),
        kt(own_tiles && !bf16 ? D * kKeyTile : 0),
        v(own_tiles && !bf16 ? kKeyTile * Dp : 0),
        row_hi(bf16 ? Dp : 0),
        pairs(bf16 ? pairs_of(D) : 0),
        q2(bf16 ? rows * pairs_of(D) : 0),
        sp(bf16 ? rows * kKeyTile / 2 : 0),
        kt2(own_tiles && bf16 ? pairs_of(D) * kKeyTile : 0),
        v2(own_tiles && bf16 ? kKeyTile / 2 * Dp : 0) {}
};

// The keys and values of the current (batch, kv head), packed once and shared by
// all query blocks: tile t holds K^T (D, Bc) and V (Bc, Dp), zero past T_kv, each in
// column strips (tile_product_packed).
// 2 * T_kv * Dp floats: the O(T * head_dim) part of the forward's memory.
// With bf16 products the tiles are pair strips instead (attention_bf16-inl.h): K^T
// (D2 = pairs_of(D), Bc) and V (Bc/2, Dp) words, half the bytes.
struct PackedKeyValues {
  Buffer<float> kt;  // (n_tiles, D, Bc)
  Buffer<float> v;   // (n_tiles, Bc, Dp)
  Buffer<uint32_t> kt2, v2;  // (n_tiles, D2, Bc), (n_tiles, Bc/2, Dp) with bf16 products
  int64_t first_key = 0;  // key of tile 0 (a segment's first key)
  bool bf16;
  PackedKeyValues(int64_t n_tiles, int64_t D, int64_t Dp, bool bf16_)
      : kt(bf16_ ? 0 : n_tiles * D * kKeyTile),
        v(bf16_ ? 0 : n_tiles * kKeyTile * Dp),
        kt2(bf16_ ? n_tiles * pairs_of(D) * kKeyTile : 0),
        v2(bf16_ ? n_tiles * kKeyTile / 2 * Dp : 0),
        bf16(bf16_) {}
};

// The call's arguments and what the tiling derives from them.
struct ForwardRun {
  ForwardArgs a;
  PackedKeyValues* kv;  // of the group being processed, or null: blocks pack their own tiles
  int64_t Dp;           // head_dim rounded up to the lane count
  int64_t block_pos;    // query positions per block
  float q_scale;        // scale * log2(e)
};

// Online-softmax update of one row for one key tile: s (cols) holds scores in log2 units
// (-inf where masked) and becomes the probabilities exp2(s - m_new); o (Dp) and l are
// rescaled by exp2(m_old - m_new) when the max moved.
inline void softmax_update_row(float* s, int64_t cols, float* o, int64_t Dp, float& m, float& l) {
  const Df d;
  const int64_t N = lanes();
  Vf vmax = hn::Set(d, kNegInf);
  for (int64_t j = 0; j < cols; j += N) vmax = hn::Max(vmax, hn::LoadU(d, s + j));
  const float tile_max = hn::GetLane(hn::MaxOfLanes(d, vmax));
  if (tile_max == kNegInf) {  // the whole tile is masked for this row
    std::memset(s, 0, static_cast<size_t>(cols) * sizeof(float));
    return;
  }
  const float m_new = std::max(m, tile_max);
  const Vf vm = hn::Set(d, m_new);
  Vf vsum = hn::Zero(d);
  for (int64_t j = 0; j < cols; j += N) {
    const Vf p = exp2_nonpositive(d, hn::Sub(hn::LoadU(d, s + j), vm));
    hn::StoreU(p, d, s + j);
    vsum = hn::Add(vsum, p);
  }
  if (m != kNegInf && m != m_new) {  // m = -inf: o and l are still 0
    const float alpha = std::exp2(m - m_new);
    const Vf va = hn::Set(d, alpha);
    for (int64_t j = 0; j < Dp; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, o + j), va), d, o + j);
    l *= alpha;
  }
  l += hn::GetLane(hn::SumOfLanes(d, vsum));
  m = m_new;
}

// A packer's source (attention_tiles-inl.h) over a KV cache's stored rows: elements
// [start, start + D) of each row (one kv head), converted to f32.
struct CacheRows {
  StorageType type;
  const uint8_t* p;  // row 0
  size_t row_bytes;
  int64_t start, D;
  size_t first_byte, bytes;  // the bytes of a row that hold the head (for the prefetch)
  CacheRows(const KvRowsView& view, int64_t row0, int64_t start_, int64_t D_)
      : type(view.type),
        p(static_cast<const uint8_t*>(view.data) + static_cast<size_t>(row0) * view.row_bytes),
        row_bytes(view.row_bytes),
        start(start_),
        D(D_) {
    switch (type) {
      case StorageType::kF32: first_byte = 4 * start, bytes = 4 * D; break;
      case StorageType::kBF16: first_byte = 2 * start, bytes = 2 * D; break;
      case StorageType::kQ8_0:
        first_byte = start / kQ8_0Block * kQ8_0BlockBytes;
        bytes = ((start + D + kQ8_0Block - 1) / kQ8_0Block - start / kQ8_0Block) * kQ8_0BlockBytes;
        break;
    }
  }
  const float* row(int64_t j, float* tmp) const {
    store::dequantize_range(tmp, type, p + j * row_bytes, start, D);
    return tmp;
  }
  void prefetch(int64_t j) const { prefetch_bytes(p + j * row_bytes + first_byte, bytes); }
};

// Where tile (k0 - first_key) / Bc of a group's pack, or a thread's own tile, sits.
struct KeyTile {
  float *kt, *v;           // fp32 products
  uint32_t *kt2, *v2;      // bf16 products
};

// K^T (D, Bc) and V (Bc, Dp) of keys k0 .. k0+Bc of group (b, h_kv), zero past T_kv
// (and V past D), both in column strips, or their pair strips with bf16 products; w's
// rows and pairs are scratch for converting cache rows.
template <class Rows>
inline void pack_key_tile_from(const ForwardRun& run, const Rows& k_rows, const Rows& v_rows,
                               int64_t nk, const KeyTile& t, ForwardScratch& w) {
  const int64_t D = run.a.g.D;
  if (run.a.bf16) {
    pack_transposed_pair_strips(t.kt2, k_rows, nk, D, w.row.data(), w.pairs.data());
    pack_pair_row_strips(t.v2, v_rows, nk, kKeyTile, D, run.Dp, w.row.data(), w.row_hi.data());
    return;
  }
  pack_transposed_strips(t.kt, k_rows, nk, D, w.row.data());
  pack_row_strips(t.v, v_rows, nk, kKeyTile, D, run.Dp, w.row.data());
}

inline void pack_key_tile(const ForwardRun& run, int64_t b, int64_t h_kv, int64_t k0,
                          const KeyTile& t, ForwardScratch& w) {
  const ForwardArgs& a = run.a;
  const AttentionGeometry& g = a.g;
  const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
  if (a.k_cache) {  // B = 1
    pack_key_tile_from(run, CacheRows(*a.k_cache, k0, h_kv * g.D, g.D),
                       CacheRows(*a.v_cache, k0, h_kv * g.D, g.D), nk, t, w);
    return;
  }
  const int64_t first = b * g.kv_batch + k0 * g.kv_row + h_kv * g.D;
  pack_key_tile_from(run, FloatRows{a.k + first, g.kv_row, g.D},
                     FloatRows{a.v + first, g.kv_row, g.D}, nk, t, w);
}

// Tile `tile` of the group's pack.
inline KeyTile packed_tile(PackedKeyValues& kv, int64_t tile, int64_t D, int64_t Dp) {
  return kv.bf16 ? KeyTile{nullptr, nullptr, kv.kt2.data() + tile * pairs_of(D) * kKeyTile,
                        kv.v2.data() + tile * kKeyTile / 2 * Dp}
              : KeyTile{kv.kt.data() + tile * D * kKeyTile, kv.v.data() + tile * kKeyTile * Dp,
                        nullptr, nullptr};
}

// Writes row (b, pos, head h) of the result, or merges it into the row already there:
// o (D) unnormalised, m (log2 units) and l its running max and sum (l = 0: no key visible).
inline void store_row(const ForwardArgs& a, int64_t b, int64_t pos, int64_t h, const float* o,
                      float m, float l) {
  const AttentionGeometry& g = a.g;
  float* dst = a.out + (b * g.T_q + pos) * g.q_row + h * g.D;
  float* lse = a.lse ? a.lse + (b * g.H + h) * g.lse_stride + pos : nullptr;
  if (l == 0.0f) {  // no key is visible: an empty partial result
    if (!a.merge) {
      std::memset(dst, 0, static_cast<size_t>(g.D) * sizeof(float));
      if (lse) *lse = kNegInf;
    }
    return;
  }
  const double part_lse = (static_cast<double>(m) + std::log2(static_cast<double>(l))) * kLn2;
  if (!a.merge || *lse == kNegInf) {
    const float inv_l = 1.0f / l;
    for (int64_t x = 0; x < g.D; ++x) dst[x] = o[x] * inv_l;
    if (lse) *lse = static_cast<float>(part_lse);
    return;
  }
  // out = (e^lse_old out_old + e^part_lse o/l) / (e^lse_old + e^part_lse), in double.
  const double mx = std::max(static_cast<double>(*lse), part_lse);
  const double w_old = std::exp(static_cast<double>(*lse) - mx), w_new = std::exp(part_lse - mx);
  const double inv = 1.0 / (w_old + w_new);
  const float a_old = static_cast<float>(w_old * inv);
  const float a_new = static_cast<float>(w_new * inv / static_cast<double>(l));
  for (int64_t x = 0; x < g.D; ++x) dst[x] = a_old * dst[x] + a_new * o[x];
  *lse = static_cast<float>(mx + std::log(w_old + w_new));
}

// Where a query block sits: its rows, positions and the keys it can see.
struct BlockSpan {
  int64_t p0, np, rows;
  int64_t a_first;  // position of the block's first query
  int64_t k_end;    // keys past the block's last query are invisible to all its rows
  const int32_t* q_seg;
  const int32_t* k_seg;
  int32_t q_seg_lo = 0, q_seg_hi = 0;
  BlockSpan(const ForwardRun& run, int64_t b, int64_t qb) {
    const ForwardArgs& a = run.a;
    const AttentionGeometry& g = a.g;
    p0 = qb * run.block_pos;
    np = std::min(run.block_pos, g.T_q - p0);
    rows = np * g.G;
    a_first = g.pos_offset + p0;
    k_end = std::min(a_first + np, g.T_kv);
    q_seg = a.q_seg ? a.q_seg + b * a.q_seg_batch : nullptr;
    k_seg = a.k_seg ? a.k_seg + b * a.k_seg_batch : nullptr;
    if (q_seg) segment_range(q_seg, p0, p0 + np - 1, q_seg_lo, q_seg_hi);
  }
};

// A block's running state: scaled queries, unnormalised output, running max and sum
// (rows of rows_max). Lives in the thread's scratch while one thread runs the block
// start to end, or in per-block storage when the keys are visited segment by segment.
struct BlockState {
  float *q, *o, *m, *l;
  uint32_t* q2;  // (rows, D2) pairs of the scaled queries, with bf16 products
};

inline void block_begin(const ForwardRun& run, const BlockSpan& sp, const BlockState& st, int64_t b,
                        int64_t h_kv) {
  const ForwardArgs& a = run.a;
  const AttentionGeometry& g = a.g;
  const int64_t D = g.D, Dp = run.Dp, G = g.G;
  // Rows r = pi*G + gi: the G heads of a position are adjacent in q, so the block
  // is np runs of G*D floats.
  for (int64_t pi = 0; pi < sp.np; ++pi) {
    const float* src = a.q + (b * g.T_q + sp.p0 + pi) * g.q_row + h_kv * G * D;
    for (int64_t gi = 0; gi < G; ++gi)
      for (int64_t x = 0; x < D; ++x) st.q[(pi * G + gi) * Dp + x] = src[gi * D + x] * run.q_scale;
  }
  if (a.bf16)
    for (int64_t r = 0; r < sp.rows; ++r)
      bf16_pairs::pair_adjacent(st.q2 + r * pairs_of(D), st.q + r * Dp, D);
  std::memset(st.o, 0, static_cast<size_t>(sp.rows * Dp) * sizeof(float));
  for (int64_t r = 0; r < sp.rows; ++r) {
    st.m[r] = kNegInf;
    st.l[r] = 0.0f;
  }
}

// The key tiles of the block starting in [k_lo, k_hi), in order.
inline void block_tiles(const ForwardRun& run, ForwardScratch& w, const BlockSpan& sp,
                        const BlockState& st, int64_t b, int64_t h_kv, int64_t k_lo, int64_t k_hi) {
  const ForwardArgs& a = run.a;
  const int64_t D = a.g.D, Dp = run.Dp, G = a.g.G;
  for (int64_t k0 = k_lo; k0 < std::min(k_hi, sp.k_end); k0 += kKeyTile) {
    const int64_t nk = std::min(kKeyTile, sp.k_end - k0);
    const int64_t cols = round_up_lanes(nk);
    bool seg_uniform = true;
    if (sp.k_seg) {
      int32_t lo, hi;
      segment_range(sp.k_seg, k0, k0 + nk - 1, lo, hi);
      if (hi < sp.q_seg_lo || lo > sp.q_seg_hi) continue;  // no shared segment: skip the tile
      seg_uniform = lo == hi && sp.q_seg_lo == sp.q_seg_hi && lo == sp.q_seg_lo;
    }
    const KeyTile t = run.kv ? packed_tile(*run.kv, (k0 - run.kv->first_key) / kKeyTile, D, Dp)
                             : KeyTile{w.kt.data(), w.v.data(), w.kt2.data(), w.v2.data()};
    if (!run.kv) pack_key_tile(run, b, h_kv, k0, t, w);
    // S (rows, cols) = Qs (rows, D) * K^T (D, cols)
    const int64_t D2 = pairs_of(D);
    if (a.bf16)
      pair_tile_product(w.s.data(), kKeyTile, sp.rows, cols, st.q2, D2, 1, t.kt2, D2, kKeyTile, 0,
                        D2, /*accumulate=*/false, a.bf16_dp);
    else
      tile_product_packed(w.s.data(), kKeyTile, sp.rows, cols, st.q, Dp, 1, t.kt, D, kKeyTile, 0,
                          D, /*accumulate=*/false);
    const bool need_mask = cols > nk || k0 + nk - 1 > sp.a_first || !seg_uniform;
    for (int64_t r = 0; r < sp.rows; ++r) {
      float* srow = w.s.data() + r * kKeyTile;
      if (need_mask)
        mask_score_row(srow, cols, k0, nk, sp.a_first + r / G, sp.k_seg,
                       sp.q_seg ? sp.q_seg[sp.p0 + r / G] : 0);
      softmax_update_row(srow, cols, st.o + r * Dp, Dp, st.m[r], st.l[r]);
    }
    // O (rows, Dp) += P (rows, cols) * V (cols, Dp)
    if (a.bf16) {
      constexpr int64_t kHalf = kKeyTile / 2;
      for (int64_t r = 0; r < sp.rows; ++r)
        bf16_pairs::pair_adjacent(w.sp.data() + r * kHalf, w.s.data() + r * kKeyTile, cols);
      pair_tile_product(st.o, Dp, sp.rows, Dp, w.sp.data(), kHalf, 1, t.v2, kHalf, Dp, 0,
                        pairs_of(cols), /*accumulate=*/true, a.bf16_dp);
    } else {
      tile_product_packed(st.o, Dp, sp.rows, Dp, w.s.data(), kKeyTile, 1, t.v, kKeyTile, Dp, 0,
                          cols, /*accumulate=*/true);
    }
  }
}

inline void block_finish(const ForwardRun& run, const BlockSpan& sp, const BlockState& st, int64_t b,
                         int64_t h_kv) {
  const int64_t G = run.a.g.G;
  for (int64_t pi = 0; pi < sp.np; ++pi)
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t r = pi * G + gi;
      store_row(run.a, b, sp.p0 + pi, h_kv * G + gi, st.o + r * run.Dp, st.m[r], st.l[r]);
    }
}

inline void forward_block(const ForwardRun& run, ForwardScratch& w, int64_t b, int64_t h_kv,
                          int64_t qb) {
  const BlockSpan sp(run, b, qb);
  const BlockState st{w.q.data(), w.o.data(), w.m.data(), w.l.data(), w.q2.data()};
  block_begin(run, sp, st, b, h_kv);
  block_tiles(run, w, sp, st, b, h_kv, 0, sp.k_end);
  block_finish(run, sp, st, b, h_kv);
}

// The running state of every query block of a group, for keys visited segment by segment.
struct BlockStates {
  int64_t rows_max, Dp, D2;
  Buffer<float> q, o, m, l;
  Buffer<uint32_t> q2;
  BlockStates(int64_t n_blocks, int64_t rows_max_, int64_t Dp_, int64_t D, bool bf16)
      : rows_max(rows_max_), Dp(Dp_), D2(bf16 ? pairs_of(D) : 0), q(n_blocks * rows_max_ * Dp_),
        o(n_blocks * rows_max_ * Dp_), m(n_blocks * rows_max_), l(n_blocks * rows_max_),
        q2(n_blocks * rows_max_ * D2) {}
  BlockState at(int64_t qb) {
    return {q.data() + qb * rows_max * Dp, o.data() + qb * rows_max * Dp, m.data() + qb * rows_max,
            l.data() + qb * rows_max, q2.data() + qb * rows_max * D2};
  }
};

}  // namespace forward_detail

// Runs the forward described by `a` (validated by the caller) on all threads.
inline void forward_tiles(const ForwardArgs& args) {
  using namespace forward_detail;
  ForwardArgs a = args;
  a.bf16 = a.g.bf16_products;
  a.bf16_dp = a.bf16 && bf16_instruction_here();
  const AttentionGeometry& g = a.g;
  if (g.T_q == 0) return;
  ForwardRun run{a, nullptr, round_up_lanes(g.D), std::max<int64_t>(1, kQueryRowsTarget / g.G),
                 static_cast<float>(g.scale) * kLog2e};
  const int64_t n_blocks = (g.T_q + run.block_pos - 1) / run.block_pos;
  const int64_t n_tiles = (g.T_kv + kKeyTile - 1) / kKeyTile;
  const int64_t rows_max = run.block_pos * g.G;
  const int64_t n_groups = g.B * g.H_kv;
  const int n_threads = omp_get_max_threads();
  // Few query blocks per group (decode, short chunks): packing a group's keys
  // once would not be amortised and its blocks could not keep the threads busy,
  // so each block packs the tiles it reads and all (group, block) pairs run in
  // one parallel loop.
  const bool pack_per_group = n_blocks >= 2 * n_threads;
  // Few queries against many keys (a prefill chunk against a long cache): the keys are
  // packed and visited a segment at a time (forward_pack_tiles), each block keeping its
  // running state between segments. Each block still visits its tiles in the same order
  // with the same operations: the result is bit-identical to packing them all at once.
  const int64_t pack_tiles = forward_pack_tiles(n_blocks, rows_max, n_tiles);
  const bool segmented = pack_per_group && pack_tiles < n_tiles;
  // Scratch is allocated before the parallel region so that running out of
  // memory throws here rather than inside OpenMP.
  std::unique_ptr<PackedKeyValues> kv;
  if (pack_per_group) kv = std::make_unique<PackedKeyValues>(pack_tiles, g.D, run.Dp, a.bf16);
  std::unique_ptr<BlockStates> states;
  if (segmented) states = std::make_unique<BlockStates>(n_blocks, rows_max, run.Dp, g.D, a.bf16);
  run.kv = kv.get();
  std::vector<ForwardScratch> scratch;
  scratch.reserve(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t)
    scratch.emplace_back(rows_max, g.D, run.Dp, !pack_per_group, a.bf16);
#pragma omp parallel num_threads(n_threads)
  {
    ForwardScratch& w = scratch[static_cast<size_t>(omp_get_thread_num())];
    if (pack_per_group) {
      for (int64_t group = 0; group < n_groups; ++group) {
        const int64_t b = group / g.H_kv, h_kv = group % g.H_kv;
        for (int64_t s0 = 0; s0 < n_tiles; s0 += pack_tiles) {
          const int64_t s1 = std::min(n_tiles, s0 + pack_tiles);
#pragma omp single
          kv->first_key = s0 * kKeyTile;
          // (the single's barrier: no thread still reads the previous segment's tiles)
#pragma omp for schedule(static)
          for (int64_t tile = s0; tile < s1; ++tile)
            pack_key_tile(run, b, h_kv, tile * kKeyTile, packed_tile(*kv, tile - s0, g.D, run.Dp),
                          w);
          // Blocks with the most keys (the last) first; blocks write disjoint
          // outputs, so the dynamic schedule cannot change the result.
#pragma omp for schedule(dynamic, 1)
          for (int64_t i = 0; i < n_blocks; ++i) {
            const int64_t qb = n_blocks - 1 - i;
            if (!segmented) {
              forward_block(run, w, b, h_kv, qb);
              continue;
            }
            const BlockSpan sp(run, b, qb);
            if (sp.k_end <= s0 * kKeyTile && s0 > 0) continue;  // finished in an earlier segment
            const BlockState st = states->at(qb);
            if (s0 == 0) block_begin(run, sp, st, b, h_kv);
            block_tiles(run, w, sp, st, b, h_kv, s0 * kKeyTile, s1 * kKeyTile);
            if (sp.k_end <= s1 * kKeyTile) block_finish(run, sp, st, b, h_kv);
          }
        }
      }
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < n_groups * n_blocks; ++item)
        forward_block(run, w, (item % n_groups) / g.H_kv, item % g.H_kv,
                      n_blocks - 1 - item / n_groups);
    }
  }
}

}  // namespace

}  // namespace longctx::kernels::HWY_NAMESPACE::attention_simd
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
