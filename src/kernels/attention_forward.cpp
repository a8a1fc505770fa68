// Tiled causal GQA attention forward with an online softmax (FlashAttention-2
// style). A work item is a query block of one (batch, kv head): the block's rows are
// query positions x the G query heads that share the kv head, so each packed
// key/value tile serves all of them. Keys are visited tile by tile with a
// running max m and sum l per row; scores live in log2 units (q is pre-scaled
// by scale*log2(e)) so the exponentials are exp2. The (batch, kv head) groups
// are processed in turn: the group's K^T and V tiles are packed once (2 T_kv Dp
// floats), then its query blocks run in parallel, each thread with a few tiles
// of scratch (with few query blocks, e.g. decode, blocks pack their own tiles
// instead). Nothing of size T_q x T_kv is ever formed.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/buffer.h"
#include "kernels/attention.h"
#include "kernels/attention_geometry.h"
#include "kernels/attention_tiles.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_forward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_tiles-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the
// best target this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

using namespace attention_detail;
using namespace attention_simd;

struct ForwardScratch {
  Buffer<float> q;     // (rows, Dp) query rows scaled by scale*log2(e)
  Buffer<float> s;     // (rows, Bc) scores, then probabilities
  Buffer<float> o;     // (rows, Dp) unnormalised output accumulator
  Buffer<float> m, l;  // (rows) running max (log2 units) and running sum
  Buffer<float> kt;    // (D, Bc) key tile transposed, when not packed per group
  Buffer<float> v;     // (Bc, Dp) value tile, when not packed per group
  ForwardScratch(int64_t rows, int64_t D, int64_t Dp, bool own_tiles)
      : q(rows * Dp), s(rows * kKeyTile), o(rows * Dp), m(rows), l(rows),
        kt(own_tiles ? D * kKeyTile : 0), v(own_tiles ? kKeyTile * Dp : 0) {}
};

// The keys and values of the current (batch, kv head), packed once and shared by
// all query blocks: tile t holds K^T (D, Bc) and V (Bc, Dp), zero past T_kv.
// 2 * T_kv * Dp floats: the O(T * head_dim) part of the forward's memory.
struct PackedKeyValues {
  Buffer<float> kt;  // (n_tiles, D, Bc)
  Buffer<float> v;   // (n_tiles, Bc, Dp)
  PackedKeyValues(int64_t n_tiles, int64_t D, int64_t Dp)
      : kt(n_tiles * D * kKeyTile), v(n_tiles * kKeyTile * Dp) {}
};

struct ForwardArgs {
  float* out;
  float* lse;
  const float* q;
  const float* k;
  const float* v;
  const int32_t* seg;  // (B, T_kv) or null
  AttentionGeometry g;
  PackedKeyValues* kv;  // of the group being processed, or null: blocks pack their own tiles
  int64_t Dp;          // head_dim rounded up to the lane count
  int64_t block_pos;   // query positions per block
  float q_scale;       // scale * log2(e)
};

// Online-softmax update of one row for one key tile: s (cols) holds scores in
// log2 units (-inf where masked) and becomes the probabilities exp2(s - m_new);
// o (Dp) is rescaled by exp2(m_old - m_new).
void softmax_update_row(float* s, int64_t cols, float* o, int64_t Dp, float& m, float& l) {
  const Df d;
  const int64_t N = lanes();
  Vf vmax = hn::Set(d, kNegInf);
  for (int64_t j = 0; j < cols; j += N) vmax = hn::Max(vmax, hn::LoadU(d, s + j));
  const float m_new = std::max(m, hn::GetLane(hn::MaxOfLanes(d, vmax)));
  if (m_new == kNegInf) {  // every key so far is masked for this row
    std::memset(s, 0, static_cast<size_t>(cols) * sizeof(float));
    return;
  }
  const Vf vm = hn::Set(d, m_new);
  Vf vsum = hn::Zero(d);
  for (int64_t j = 0; j < cols; j += N) {
    const Vf p = exp2_nonpositive(d, hn::Sub(hn::LoadU(d, s + j), vm));
    hn::StoreU(p, d, s + j);
    vsum = hn::Add(vsum, p);
  }
  const float alpha = m == kNegInf ? 0.0f : std::exp2(m - m_new);
  if (alpha != 1.0f) {
    const Vf va = hn::Set(d, alpha);
    for (int64_t j = 0; j < Dp; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, o + j), va), d, o + j);
  }
  l = l * alpha + hn::GetLane(hn::SumOfLanes(d, vsum));
  m = m_new;
}

// K^T (D, Bc) and V (Bc, Dp) of keys k0 .. k0+Bc of group (b, h_kv), zero past T_kv.
void pack_key_tile(const ForwardArgs& a, int64_t b, int64_t h_kv, int64_t k0, float* kt, float* v) {
  const AttentionGeometry& g = a.g;
  const int64_t D = g.D, Dp = a.Dp;
  const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
  const float* k_base = a.k + b * g.kv_batch + h_kv * D;
  const float* v_base = a.v + b * g.kv_batch + h_kv * D;
  for (int64_t j = 0; j < kKeyTile; ++j) {
    const bool valid = j < nk;
    const float* kr = k_base + (k0 + j) * g.kv_row;
    const float* vr = v_base + (k0 + j) * g.kv_row;
    for (int64_t x = 0; x < D; ++x) {
      kt[x * kKeyTile + j] = valid ? kr[x] : 0.0f;
      v[j * Dp + x] = valid ? vr[x] : 0.0f;
    }
  }
}

void forward_block(const ForwardArgs& a, ForwardScratch& w, int64_t b, int64_t h_kv, int64_t qb) {
  const AttentionGeometry& g = a.g;
  const int64_t D = g.D, Dp = a.Dp, G = g.G;
  const int64_t p0 = qb * a.block_pos;
  const int64_t np = std::min(a.block_pos, g.T_q - p0);
  const int64_t rows = np * G;
  const int64_t a_first = g.pos_offset + p0;  // absolute positions of the block's queries
  const int64_t a_last = a_first + np - 1;
  const int32_t* seg = a.seg ? a.seg + b * g.T_kv : nullptr;
  int32_t q_seg_lo = 0, q_seg_hi = 0;
  if (seg) segment_range(seg, a_first, a_last, q_seg_lo, q_seg_hi);

  // Rows r = pi*G + gi: the G heads of a position are adjacent in q, so the block
  // is np runs of G*D floats.
  for (int64_t pi = 0; pi < np; ++pi) {
    const float* src = a.q + (b * g.T_q + p0 + pi) * g.q_row + h_kv * G * D;
    for (int64_t gi = 0; gi < G; ++gi)
      for (int64_t x = 0; x < D; ++x) w.q[(pi * G + gi) * Dp + x] = src[gi * D + x] * a.q_scale;
  }
  std::memset(w.o.data(), 0, static_cast<size_t>(rows * Dp) * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    w.m[r] = kNegInf;
    w.l[r] = 0.0f;
  }

  for (int64_t k0 = 0; k0 <= a_last; k0 += kKeyTile) {
    // Keys past the block's last query are invisible to all its rows.
    const int64_t nk = std::min(kKeyTile, a_last - k0 + 1);
    const int64_t cols = round_up_lanes(nk);
    bool seg_uniform = true;
    if (seg) {
      int32_t lo, hi;
      segment_range(seg, k0, k0 + nk - 1, lo, hi);
      if (hi < q_seg_lo || lo > q_seg_hi) continue;  // no shared segment: skip the tile
      seg_uniform = lo == hi && q_seg_lo == q_seg_hi && lo == q_seg_lo;
    }
    const float* kt = a.kv ? a.kv->kt.data() + k0 * D : w.kt.data();  // tile k0 / Bc
    const float* v = a.kv ? a.kv->v.data() + k0 * Dp : w.v.data();
    if (!a.kv) pack_key_tile(a, b, h_kv, k0, w.kt.data(), w.v.data());
    // S (rows, cols) = Qs (rows, D) * K^T (D, cols)
    tile_product(w.s.data(), kKeyTile, rows, cols, w.q.data(), Dp, 1, kt, kKeyTile, D,
                 /*accumulate=*/false);
    const bool need_mask = cols > nk || k0 + nk - 1 > a_first || !seg_uniform;
    for (int64_t r = 0; r < rows; ++r) {
      float* srow = w.s.data() + r * kKeyTile;
      if (need_mask) mask_score_row(srow, cols, k0, nk, a_first + r / G, seg);
      softmax_update_row(srow, cols, w.o.data() + r * Dp, Dp, w.m[r], w.l[r]);
    }
    // O (rows, Dp) += P (rows, cols) * V (cols, Dp)
    tile_product(w.o.data(), Dp, rows, Dp, w.s.data(), kKeyTile, 1, v, Dp, cols,
                 /*accumulate=*/true);
  }

  for (int64_t pi = 0; pi < np; ++pi) {
    float* dst = a.out + (b * g.T_q + p0 + pi) * g.q_row + h_kv * G * D;
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t r = pi * G + gi;
      const float inv_l = 1.0f / w.l[r];
      for (int64_t x = 0; x < D; ++x) dst[gi * D + x] = w.o[r * Dp + x] * inv_l;
      if (a.lse) a.lse[(b * g.H + h_kv * G + gi) * g.T_q + p0 + pi] = (w.m[r] + std::log2(w.l[r])) * kLn2;
    }
  }
}

}  // namespace

void attention_forward_target(float* out, float* lse, const float* q, const float* k, const float* v,
                              const AttentionShape& shape, const int32_t* segment_ids) {
  ForwardArgs a;
  a.g = attention_detail::make_attention_geometry(shape, "attention_forward");
  LONGCTX_CHECK(out && q && k && v, "attention_forward: out, q, k and v must not be null");
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  a.seg = segment_ids;
  a.Dp = round_up_lanes(a.g.D);
  a.block_pos = std::max<int64_t>(1, kQueryRowsTarget / a.g.G);
  a.q_scale = static_cast<float>(a.g.scale) * kLog2e;
  if (a.g.T_q == 0) return;
  const int64_t n_blocks = (a.g.T_q + a.block_pos - 1) / a.block_pos;
  const int64_t n_tiles = (a.g.T_kv + kKeyTile - 1) / kKeyTile;
  const int64_t rows_max = a.block_pos * a.g.G;
  const int64_t n_groups = a.g.B * a.g.H_kv;
  const int n_threads = omp_get_max_threads();
  // Few query blocks per group (decode, short chunks): packing a group's keys
  // once would not be amortised and its blocks could not keep the threads busy,
  // so each block packs the tiles it reads and all (group, block) pairs run in
  // one parallel loop.
  const bool pack_per_group = n_blocks >= 2 * n_threads;
  // Scratch is allocated before the parallel region so that running out of
  // memory throws here rather than inside OpenMP.
  std::unique_ptr<PackedKeyValues> kv;
  if (pack_per_group) kv = std::make_unique<PackedKeyValues>(n_tiles, a.g.D, a.Dp);
  a.kv = kv.get();
  std::vector<ForwardScratch> scratch;
  scratch.reserve(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t) scratch.emplace_back(rows_max, a.g.D, a.Dp, !pack_per_group);
#pragma omp parallel num_threads(n_threads)
  {
    ForwardScratch& w = scratch[static_cast<size_t>(omp_get_thread_num())];
    if (pack_per_group) {
      for (int64_t group = 0; group < n_groups; ++group) {
        const int64_t b = group / a.g.H_kv, h_kv = group % a.g.H_kv;
#pragma omp for schedule(static)
        for (int64_t tile = 0; tile < n_tiles; ++tile)
          pack_key_tile(a, b, h_kv, tile * kKeyTile, kv->kt.data() + tile * a.g.D * kKeyTile,
                        kv->v.data() + tile * kKeyTile * a.Dp);
        // Blocks with the most keys (the last) first; blocks write disjoint
        // outputs, so the dynamic schedule cannot change the result.
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n_blocks; ++i) forward_block(a, w, b, h_kv, n_blocks - 1 - i);
      }
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < n_groups * n_blocks; ++item)
        forward_block(a, w, (item % n_groups) / a.g.H_kv, item % a.g.H_kv,
                      n_blocks - 1 - item / n_groups);
    }
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_forward_target);

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& shape, const int32_t* segment_ids) {
  HWY_DYNAMIC_DISPATCH(attention_forward_target)(out, lse, q, k, v, shape, segment_ids);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
