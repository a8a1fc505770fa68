// Tiled block attention forward (attention_block.h): every key of the block is visible to
// every query, up to segments. The structure of the causal forward (attention_forward.cpp):
// for each kv head in turn, its key/value tiles are packed once (2 T_kv Dp floats), then its
// query blocks (positions x the G query heads of the group) run in parallel, each keeping a
// running max m and sum l per row in log2 units; at the end each row is written, or merged
// into the (out, lse) of earlier blocks through the log-sum-exps.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/buffer.h"
#include "kernels/attention_block.h"
#include "kernels/attention_block_geometry.h"
#include "kernels/attention_tiles.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_block_forward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_tiles-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the best target
// this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

using namespace attention_detail;
using namespace attention_simd;

struct BlockForwardScratch {
  Buffer<float> q;     // (rows, Dp) query rows scaled by scale*log2(e)
  Buffer<float> s;     // (rows, Bc) scores, then probabilities
  Buffer<float> o;     // (rows, Dp) unnormalised output accumulator
  Buffer<float> m, l;  // (rows) running max (log2 units) and running sum
  BlockForwardScratch(int64_t rows, int64_t Dp)
      : q(rows * Dp), s(rows * kKeyTile), o(rows * Dp), m(rows), l(rows) {}
};

struct BlockForwardArgs {
  float* out;
  float* lse;
  const float* q;
  const float* k;
  const float* v;
  const int32_t* q_seg;  // (T_q) or null
  const int32_t* k_seg;  // (T_kv) or null
  BlockGeometry g;
  bool merge;
  int64_t Dp;         // head_dim rounded up to the lane count
  int64_t block_pos;  // query positions per block
  float q_scale;      // scale * log2(e)
  float* kt;          // (n_tiles, D, Bc) packed K^T tiles of the current kv head
  float* vt;          // (n_tiles, Bc, Dp) packed V tiles of the current kv head
};

// K^T (D, Bc) and V (Bc, Dp) of keys k0 .. k0+Bc of kv head h_kv, zero past T_kv.
void pack_block_key_tile(const BlockForwardArgs& a, int64_t h_kv, int64_t k0, float* kt, float* v) {
  const BlockGeometry& g = a.g;
  const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
  for (int64_t j = 0; j < kKeyTile; ++j) {
    const bool valid = j < nk;
    const float* kr = a.k + (k0 + j) * g.kv_row + h_kv * g.D;
    const float* vr = a.v + (k0 + j) * g.kv_row + h_kv * g.D;
    for (int64_t x = 0; x < g.D; ++x) {
      kt[x * kKeyTile + j] = valid ? kr[x] : 0.0f;
      v[j * a.Dp + x] = valid ? vr[x] : 0.0f;
    }
  }
}

// One key tile's online-softmax step for one row: s (cols) holds scores in log2 units (-inf
// where masked) and becomes exp2(s - m_new); o (Dp) is rescaled by exp2(m_old - m_new).
void online_softmax_step(float* s, int64_t cols, float* o, int64_t Dp, float& m, float& l) {
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
  if (m != kNegInf && m != m_new) {
    const float alpha = std::exp2(m - m_new);
    const Vf va = hn::Set(d, alpha);
    for (int64_t j = 0; j < Dp; j += N) hn::StoreU(hn::Mul(hn::LoadU(d, o + j), va), d, o + j);
    l *= alpha;
  }
  l += hn::GetLane(hn::SumOfLanes(d, vsum));
  m = m_new;
}

// Writes row (pos, head h) of the block's result, or merges it into the earlier blocks' row:
// o (D) unnormalised, m (log2 units) and l its running max and sum (l = 0: no key visible).
void store_row(const BlockForwardArgs& a, int64_t pos, int64_t h, const float* o, float m,
               float l) {
  const BlockGeometry& g = a.g;
  float* dst = a.out + pos * g.q_row + h * g.D;
  float& lse = a.lse[h * g.lse_stride + pos];
  if (l == 0.0f) {  // no key of this block is visible: an empty partial result
    if (!a.merge) {
      std::memset(dst, 0, static_cast<size_t>(g.D) * sizeof(float));
      lse = kNegInf;
    }
    return;
  }
  const double part_lse = (static_cast<double>(m) + std::log2(static_cast<double>(l))) * kLn2;
  if (!a.merge || lse == kNegInf) {
    const float inv_l = 1.0f / l;
    for (int64_t x = 0; x < g.D; ++x) dst[x] = o[x] * inv_l;
    lse = static_cast<float>(part_lse);
    return;
  }
  // out = (e^lse_old out_old + e^part_lse o/l) / (e^lse_old + e^part_lse), in double.
  const double mx = std::max(static_cast<double>(lse), part_lse);
  const double w_old = std::exp(static_cast<double>(lse) - mx), w_new = std::exp(part_lse - mx);
  const double inv = 1.0 / (w_old + w_new);
  const float a_old = static_cast<float>(w_old * inv);
  const float a_new = static_cast<float>(w_new * inv / static_cast<double>(l));
  for (int64_t x = 0; x < g.D; ++x) dst[x] = a_old * dst[x] + a_new * o[x];
  lse = static_cast<float>(mx + std::log(w_old + w_new));
}

void block_forward_rows(const BlockForwardArgs& a, BlockForwardScratch& w, int64_t h_kv,
                        int64_t qb) {
  const BlockGeometry& g = a.g;
  const int64_t D = g.D, Dp = a.Dp, G = g.G;
  const int64_t p0 = qb * a.block_pos;
  const int64_t np = std::min(a.block_pos, g.T_q - p0);
  const int64_t rows = np * G;
  int32_t q_seg_lo = 0, q_seg_hi = 0;
  if (a.q_seg) segment_range(a.q_seg, p0, p0 + np - 1, q_seg_lo, q_seg_hi);

  // Rows r = pi*G + gi: the G heads of a position are adjacent in q.
  for (int64_t pi = 0; pi < np; ++pi) {
    const float* src = a.q + (p0 + pi) * g.q_row + h_kv * G * D;
    for (int64_t gi = 0; gi < G; ++gi)
      for (int64_t x = 0; x < D; ++x) w.q[(pi * G + gi) * Dp + x] = src[gi * D + x] * a.q_scale;
  }
  std::memset(w.o.data(), 0, static_cast<size_t>(rows * Dp) * sizeof(float));
  for (int64_t r = 0; r < rows; ++r) {
    w.m[r] = kNegInf;
    w.l[r] = 0.0f;
  }

  for (int64_t k0 = 0; k0 < g.T_kv; k0 += kKeyTile) {
    const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
    const int64_t cols = round_up_lanes(nk);
    bool seg_uniform = true;
    if (a.k_seg) {
      int32_t lo, hi;
      segment_range(a.k_seg, k0, k0 + nk - 1, lo, hi);
      if (hi < q_seg_lo || lo > q_seg_hi) continue;  // no shared segment: skip the tile
      seg_uniform = lo == hi && q_seg_lo == q_seg_hi && lo == q_seg_lo;
    }
    const float* kt = a.kt + k0 * D;  // tile k0 / Bc
    const float* vt = a.vt + k0 * Dp;
    // S (rows, cols) = Qs (rows, D) * K^T (D, cols)
    tile_product(w.s.data(), kKeyTile, rows, cols, w.q.data(), Dp, 1, kt, kKeyTile, D,
                 /*accumulate=*/false);
    const bool need_mask = cols > nk || !seg_uniform;
    for (int64_t r = 0; r < rows; ++r) {
      float* srow = w.s.data() + r * kKeyTile;
      if (need_mask) {
        const int32_t* seg_row = a.k_seg ? a.k_seg + k0 : nullptr;
        const int32_t q_seg = a.q_seg ? a.q_seg[p0 + r / G] : 0;
        for (int64_t j = 0; j < cols; ++j)
          if (j >= nk || (seg_row && seg_row[j] != q_seg)) srow[j] = kNegInf;
      }
      online_softmax_step(srow, cols, w.o.data() + r * Dp, Dp, w.m[r], w.l[r]);
    }
    // O (rows, Dp) += P (rows, cols) * V (cols, Dp)
    tile_product(w.o.data(), Dp, rows, Dp, w.s.data(), kKeyTile, 1, vt, Dp, cols,
                 /*accumulate=*/true);
  }

  for (int64_t pi = 0; pi < np; ++pi)
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t r = pi * G + gi;
      store_row(a, p0 + pi, h_kv * G + gi, w.o.data() + r * Dp, w.m[r], w.l[r]);
    }
}

}  // namespace

void attention_block_forward_target(float* out, float* lse, const float* q, const float* k,
                                    const float* v, const AttentionBlockShape& shape,
                                    const int32_t* q_segments, const int32_t* k_segments) {
  BlockForwardArgs a;
  a.g = make_block_geometry(shape, q_segments, k_segments, "attention_block_forward");
  LONGCTX_CHECK(out && lse && q && (a.g.T_kv == 0 || (k && v)),
                "attention_block_forward: out, lse, q, k and v must not be null");
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  a.q_seg = q_segments;
  a.k_seg = k_segments;
  a.merge = shape.merge;
  a.Dp = round_up_lanes(a.g.D);
  a.block_pos = std::max<int64_t>(1, kQueryRowsTarget / a.g.G);
  a.q_scale = static_cast<float>(a.g.scale) * kLog2e;
  if (a.g.T_q == 0) return;
  const int64_t n_blocks = (a.g.T_q + a.block_pos - 1) / a.block_pos;
  const int64_t n_tiles = (a.g.T_kv + kKeyTile - 1) / kKeyTile;
  const int n_threads = omp_get_max_threads();
  // Scratch is allocated before the parallel region so that running out of memory throws
  // here rather than inside OpenMP.
  Buffer<float> kt(std::max<int64_t>(1, n_tiles * a.g.D * kKeyTile));
  Buffer<float> vt(std::max<int64_t>(1, n_tiles * kKeyTile * a.Dp));
  a.kt = kt.data();
  a.vt = vt.data();
  std::vector<BlockForwardScratch> scratch;
  scratch.reserve(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t) scratch.emplace_back(a.block_pos * a.g.G, a.Dp);
#pragma omp parallel num_threads(n_threads)
  {
    BlockForwardScratch& w = scratch[static_cast<size_t>(omp_get_thread_num())];
    for (int64_t h_kv = 0; h_kv < a.g.H_kv; ++h_kv) {
#pragma omp for schedule(static)
      for (int64_t tile = 0; tile < n_tiles; ++tile)
        pack_block_key_tile(a, h_kv, tile * kKeyTile, a.kt + tile * a.g.D * kKeyTile,
                            a.vt + tile * kKeyTile * a.Dp);
        // Query blocks write disjoint rows, so the dynamic schedule cannot change the result.
#pragma omp for schedule(dynamic, 1)
      for (int64_t qb = 0; qb < n_blocks; ++qb) block_forward_rows(a, w, h_kv, qb);
    }
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_block_forward_target);

void attention_block_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const AttentionBlockShape& shape, const int32_t* q_segments,
                             const int32_t* k_segments) {
  HWY_DYNAMIC_DISPATCH(attention_block_forward_target)
  (out, lse, q, k, v, shape, q_segments, k_segments);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
