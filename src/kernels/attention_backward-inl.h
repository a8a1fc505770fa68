// Internal to the attention kernels: the tiled GQA attention backward
// (FlashAttention-2 style) that both public backwards are, the causal one
// (attention_backward.cpp) and the block one of ring attention
// (attention_block_backward.cpp). They differ only in their geometry
// (attention_geometry.h) and in whether the gradients overwrite or add to dq, dk,
// dv. Compiled once per Highway target: each kernel file includes this after
// <hwy/foreach_target.h> (per-target include guard, Highway's -inl.h pattern).
//
// Probabilities are recomputed tile by tile from q, k and the forward's log-sum-exp,
//   P = exp(s - lse),  dV += P^T dO,  dP = dO V^T,  dS = P * (dP - D_i),
//   dK += scale dS^T Q,  dQ += scale dS K,  with D_i = rowsum(dO_i * O_i).
// When the forward merged several key blocks, lse and O are the merged ones and P is
// this block's share of the whole softmax, so the blocks' gradients add up.
//
// Determinism: each (batch, kv head) group is processed in turn; within it a key
// tile belongs to exactly one thread (fixed assignment), which loops over all query
// blocks (positions x the G heads of the group) and writes that tile's dk/dv rows
// alone, so dk/dv are summed over the group's heads in one fixed order. dq is
// accumulated into a per-thread partial (T_q*G, Dp) and the partials are summed in
// thread order after a barrier. Same inputs and thread count give bit-identical dq,
// dk, dv; dk and dv do not even depend on the thread count. Memory: the group's
// packed q, dout (2 T_q G Dp floats), a few tiles and one (T_q*G, Dp) dq partial per
// thread.
#if defined(LONGCTX_KERNELS_ATTENTION_BACKWARD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_ATTENTION_BACKWARD_INL_H_
#undef LONGCTX_KERNELS_ATTENTION_BACKWARD_INL_H_
#else
#define LONGCTX_KERNELS_ATTENTION_BACKWARD_INL_H_
#endif

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/buffer.h"
#include "kernels/attention_bf16-inl.h"
#include "kernels/attention_geometry.h"
#include "kernels/attention_tiles-inl.h"
#include "kernels/attention_tiles.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::attention_simd {
// Internal linkage: each kernel file gets its own copy, so the compiler sees every
// caller and specialises the tile loops as it did when they lived in the kernel file.
namespace {

// One backward call in the terms both public kernels map onto.
struct BackwardArgs {
  float* dq = nullptr;             // (B, T_q, H, D)
  float* dk = nullptr;             // (B, T_kv, Hkv, D), dense (batch stride g.dkv_batch)
  float* dv = nullptr;             // (B, T_kv, Hkv, D), dense
  const float* dout = nullptr;     // (B, T_q, H, D)
  const float* out = nullptr;      // (B, T_q, H, D) the forward's (final, merged) output
  const float* lse = nullptr;      // (B*H, g.lse_stride) its log-sum-exp; -inf rows get no gradient
  const float* q = nullptr;        // (B, T_q, H, D)
  const float* k = nullptr;        // (B, kv_batch) of (T_kv, Hkv, D)
  const float* v = nullptr;        // (B, kv_batch) of (T_kv, Hkv, D)
  const int32_t* q_seg = nullptr;  // (B, q_seg_batch) segment id of each query row, or null
  const int32_t* k_seg = nullptr;  // (B, k_seg_batch) segment id of each key; null iff q_seg is
  int64_t q_seg_batch = 0, k_seg_batch = 0;
  attention_detail::AttentionGeometry g;
  bool accumulate = false;  // dq, dk, dv += (a block of a ring) instead of =
  // Set by backward_tiles from g.bf16_products: tile products with bf16 inputs
  // (attention_bf16-inl.h), with vdpbf16ps when bf16_dp.
  bool bf16 = false, bf16_dp = false;
};

namespace backward_detail {

using namespace attention_detail;

struct BackwardScratch {
  Buffer<float> kt, vt;  // (D, Bc) key and value tile, transposed, in column strips
  Buffer<float> k;       // (Bc, Dp) key tile in column strips
  Buffer<float> dk, dv;  // (Bc, Dp) gradient accumulators of the key tile
  Buffer<float> p, ds;   // (rows, Bc) probabilities; dP, then dS
  Buffer<float> dq;      // (T_q*G, Dp) this thread's dq partial for the current group
  // bf16 products (attention_bf16-inl.h): the key tile's pair strips K^T, V^T (D2, Bc) and
  // K (Bc/2, Dp); P and dS paired along query rows (rows/2 + 1, Bc), dS along keys
  // (rows, Bc/2); one row's pairs (D2).
  Buffer<uint32_t> kt2, vt2, k2, p_rows, ds_rows, ds_keys, pairs;
  BackwardScratch(int64_t rows, int64_t D, int64_t Dp, int64_t dq_rows, bool bf16)
      : kt(bf16 ? 0 : D * kKeyTile),
        vt(bf16 ? 0 : D * kKeyTile),
        k(bf16 ? 0 : kKeyTile * Dp),
        dk(kKeyTile * Dp),
        dv(kKeyTile * Dp),
        p(rows * kKeyTile),
        ds(rows * kKeyTile),
        dq(dq_rows * Dp),
        kt2(bf16 ? pairs_of(D) * kKeyTile : 0),
        vt2(bf16 ? pairs_of(D) * kKeyTile : 0),
        k2(bf16 ? kKeyTile / 2 * Dp : 0),
        p_rows(bf16 ? (rows / 2 + 1) * kKeyTile : 0),
        ds_rows(bf16 ? (rows / 2 + 1) * kKeyTile : 0),
        ds_keys(bf16 ? rows * kKeyTile / 2 : 0),
        pairs(bf16 ? pairs_of(D) : 0) {}
};

// The query side of the current (batch, kv head), packed once and shared by all
// key tiles; row r = position * G + head in group, so a block of positions is a
// contiguous run of rows. q and dout are kept twice: as rows, where they are the A
// operand of a product, and in column strips, where they are the B operand.
// With bf16 products (attention_bf16-inl.h) the operands are pairs instead: q and dout
// rows as the pairs of their D elements (A of Q K^T and dO V^T), and in column strips
// paired along the rows, rows 2i and 2i+1 in word i (B of dS^T Q and P^T dO).
struct PackedQueries {
  Buffer<float> q;          // (T_q*G, Dp) query rows scaled by scale*log2(e)
  Buffer<float> dout;       // (T_q*G, Dp)
  Buffer<float> q_strips, dout_strips;  // the same in (T_q*G, Dp) column strips
  Buffer<float> lse2, dot;  // (T_q*G) lse in log2 units; D_i = rowsum(dout * out)
  Buffer<uint32_t> q2, dout2;                // (T_q*G, D2) with bf16 products
  Buffer<uint32_t> q_pair_strips, dout_pair_strips;  // (pairs_of(T_q*G), Dp) with bf16 products
  int64_t rows;
  PackedQueries(int64_t rows, int64_t D, int64_t Dp, bool bf16)
      : q(rows * Dp),
        dout(rows * Dp),
        q_strips(bf16 ? 0 : rows * Dp),
        dout_strips(bf16 ? 0 : rows * Dp),
        lse2(rows),
        dot(rows),
        q2(bf16 ? rows * pairs_of(D) : 0),
        dout2(bf16 ? rows * pairs_of(D) : 0),
        q_pair_strips(bf16 ? pairs_of(rows) * Dp : 0),
        dout_pair_strips(bf16 ? pairs_of(rows) * Dp : 0),
        rows(rows) {}
};

// The call's arguments and what the tiling derives from them.
struct BackwardRun {
  BackwardArgs a;
  PackedQueries* pq;  // of the group being processed
  int64_t Dp;         // head_dim rounded up to the lane count
  int64_t block_pos;  // query positions per block
  float q_scale;      // scale * log2(e)
};

// Packs the query rows (scaled), dout rows, lse (log2 units) and D_i of one
// position of group (b, h_kv).
inline void pack_query_position(const BackwardRun& run, int64_t b, int64_t h_kv, int64_t pos) {
  const BackwardArgs& a = run.a;
  const AttentionGeometry& g = a.g;
  const int64_t D = g.D, Dp = run.Dp, G = g.G;
  PackedQueries& w = *run.pq;
  const int64_t off = (b * g.T_q + pos) * g.q_row + h_kv * G * D;
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t r = pos * G + gi;
    const float* qr = a.q + off + gi * D;
    const float* dor = a.dout + off + gi * D;
    const float* outr = a.out + off + gi * D;
    float dot = 0.0f;
    for (int64_t x = 0; x < D; ++x) {
      w.q[r * Dp + x] = qr[x] * run.q_scale;
      w.dout[r * Dp + x] = dor[x];
      dot += dor[x] * outr[x];
    }
    if (a.bf16) {
      bf16_pairs::pair_adjacent(w.q2.data() + r * pairs_of(D), w.q.data() + r * Dp, D);
      bf16_pairs::pair_adjacent(w.dout2.data() + r * pairs_of(D), dor, D);
    } else {
      for (int64_t x = 0; x < Dp; ++x) {
        const int64_t o = strip_offset(r, x, Dp, w.rows);
        w.q_strips[o] = x < D ? w.q[r * Dp + x] : 0.0f;
        w.dout_strips[o] = x < D ? dor[x] : 0.0f;
      }
    }
    w.dot[r] = dot;
    w.lse2[r] = a.lse[(b * g.H + h_kv * G + gi) * g.lse_stride + pos] * kLog2e;
  }
}

// With bf16 products: packed rows 2i and 2i+1 (after pack_query_position) paired into word i
// of the q and dout pair strips.
inline void pack_query_pair(const BackwardRun& run, int64_t i) {
  PackedQueries& w = *run.pq;
  const int64_t D = run.a.g.D, Dp = run.Dp, n2 = pairs_of(w.rows);
  const bool hi = 2 * i + 1 < w.rows;
  const int64_t lo_off = 2 * i * Dp, hi_off = lo_off + Dp;
  pair_strip_row(w.q_pair_strips.data(), i, n2, w.q.data() + lo_off,
                 hi ? w.q.data() + hi_off : nullptr, D, Dp);
  pair_strip_row(w.dout_pair_strips.data(), i, n2, w.dout.data() + lo_off,
                 hi ? w.dout.data() + hi_off : nullptr, D, Dp);
}

// Gradients of one key tile (keys k0 .. k0+Bc) of group (b, h_kv) from every
// query block that can see it; dq contributions go to this thread's partial.
inline void backward_key_tile(const BackwardRun& run, BackwardScratch& w, int64_t b, int64_t h_kv,
                              int64_t k0) {
  const BackwardArgs& a = run.a;
  const AttentionGeometry& g = a.g;
  const int64_t D = g.D, Dp = run.Dp, G = g.G, N = lanes();
  const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
  const int64_t cols = round_up_lanes(nk);
  const int64_t first = b * g.kv_batch + k0 * g.kv_row + h_kv * D;
  const FloatRows k_rows{a.k + first, g.kv_row, D}, v_rows{a.v + first, g.kv_row, D};
  const int64_t D2 = pairs_of(D), n_pairs = pairs_of(run.pq->rows);
  constexpr int64_t kHalf = kKeyTile / 2;
  if (a.bf16) {
    pack_transposed_pair_strips(w.kt2.data(), k_rows, nk, D, nullptr, w.pairs.data());
    pack_transposed_pair_strips(w.vt2.data(), v_rows, nk, D, nullptr, w.pairs.data());
    pack_pair_row_strips(w.k2.data(), k_rows, nk, kKeyTile, D, Dp, nullptr, nullptr);
  } else {
    pack_transposed_strips(w.kt.data(), k_rows, nk, D, nullptr);
    pack_transposed_strips(w.vt.data(), v_rows, nk, D, nullptr);
    pack_row_strips(w.k.data(), k_rows, nk, kKeyTile, D, Dp, nullptr);
  }
  std::memset(w.dk.data(), 0, static_cast<size_t>(cols * Dp) * sizeof(float));
  std::memset(w.dv.data(), 0, static_cast<size_t>(cols * Dp) * sizeof(float));
  const int32_t* q_seg = a.q_seg ? a.q_seg + b * a.q_seg_batch : nullptr;
  const int32_t* k_seg = a.k_seg ? a.k_seg + b * a.k_seg_batch : nullptr;
  int32_t k_seg_lo = 0, k_seg_hi = 0;
  if (k_seg) segment_range(k_seg, k0, k0 + nk - 1, k_seg_lo, k_seg_hi);

  const Df d;
  // The first query that sees key k0 sits at position k0.
  for (int64_t p0 = std::max<int64_t>(0, k0 - g.pos_offset); p0 < g.T_q; p0 += run.block_pos) {
    const int64_t np = std::min(run.block_pos, g.T_q - p0);
    const int64_t rows = np * G;
    const int64_t a_first = g.pos_offset + p0;
    bool seg_uniform = true;
    if (q_seg) {
      int32_t lo, hi;
      segment_range(q_seg, p0, p0 + np - 1, lo, hi);
      if (hi < k_seg_lo || lo > k_seg_hi) continue;  // no shared segment: skip the block
      seg_uniform = lo == hi && k_seg_lo == k_seg_hi && lo == k_seg_lo;
    }
    const int64_t r0 = p0 * G;  // first packed query row of the block
    const float* qs = run.pq->q.data() + r0 * Dp;
    const float* dout = run.pq->dout.data() + r0 * Dp;
    // S (rows, cols) = Qs (rows, D) * K^T (D, cols), then P = exp2(S - lse2) in place.
    if (a.bf16)
      pair_tile_product(w.p.data(), kKeyTile, rows, cols, run.pq->q2.data() + r0 * D2, D2, 1,
                        w.kt2.data(), D2, kKeyTile, 0, D2, /*accumulate=*/false, a.bf16_dp);
    else
      tile_product_packed(w.p.data(), kKeyTile, rows, cols, qs, Dp, 1, w.kt.data(), D, kKeyTile, 0,
                          D, /*accumulate=*/false);
    const bool need_mask = cols > nk || k0 + nk - 1 > a_first || !seg_uniform;
    for (int64_t r = 0; r < rows; ++r) {
      float* prow = w.p.data() + r * kKeyTile;
      const float lse2 = run.pq->lse2[r0 + r];
      if (lse2 == kNegInf) {  // the row sees no key at all: no gradient through it
        std::memset(prow, 0, static_cast<size_t>(cols) * sizeof(float));
        continue;
      }
      if (need_mask)
        mask_score_row(prow, cols, k0, nk, a_first + r / G, k_seg, q_seg ? q_seg[p0 + r / G] : 0);
      const Vf vl = hn::Set(d, lse2);
      for (int64_t j = 0; j < cols; j += N)
        hn::StoreU(exp2_nonpositive(d, hn::Sub(hn::LoadU(d, prow + j), vl)), d, prow + j);
    }
    // dV (cols, Dp) += P^T (cols, rows) * dO (rows, Dp)
    // dP (rows, cols) = dO (rows, D) * V^T (D, cols)
    if (a.bf16) {
      const int64_t n2 =
          pair_tile_rows(w.p_rows.data(), kKeyTile, w.p.data(), kKeyTile, rows, cols, r0);
      pair_tile_product(w.dv.data(), Dp, cols, Dp, w.p_rows.data(), 1, kKeyTile,
                        run.pq->dout_pair_strips.data(), n_pairs, Dp, r0 / 2, n2,
                        /*accumulate=*/true, a.bf16_dp);
      pair_tile_product(w.ds.data(), kKeyTile, rows, cols, run.pq->dout2.data() + r0 * D2, D2, 1,
                        w.vt2.data(), D2, kKeyTile, 0, D2, /*accumulate=*/false, a.bf16_dp);
    } else {
      tile_product_packed(w.dv.data(), Dp, cols, Dp, w.p.data(), 1, kKeyTile,
                          run.pq->dout_strips.data(), run.pq->rows, Dp, r0, rows,
                          /*accumulate=*/true);
      tile_product_packed(w.ds.data(), kKeyTile, rows, cols, dout, Dp, 1, w.vt.data(), D, kKeyTile,
                          0, D, /*accumulate=*/false);
    }
    for (int64_t r = 0; r < rows; ++r) {
      float* prow = w.p.data() + r * kKeyTile;
      float* dsrow = w.ds.data() + r * kKeyTile;
      const Vf vdot = hn::Set(d, run.pq->dot[r0 + r]);
      for (int64_t j = 0; j < cols; j += N) {
        const Vf ds = hn::Mul(hn::LoadU(d, prow + j), hn::Sub(hn::LoadU(d, dsrow + j), vdot));
        hn::StoreU(ds, d, dsrow + j);
      }
    }
    // dK (cols, Dp) += dS^T (cols, rows) * Qs (rows, Dp)   (times ln2 on the way out)
    // dQ partial rows p0*G .. (rows, Dp) += dS (rows, cols) * K (cols, Dp)   (times scale later)
    if (a.bf16) {
      const int64_t n2 =
          pair_tile_rows(w.ds_rows.data(), kKeyTile, w.ds.data(), kKeyTile, rows, cols, r0);
      pair_tile_product(w.dk.data(), Dp, cols, Dp, w.ds_rows.data(), 1, kKeyTile,
                        run.pq->q_pair_strips.data(), n_pairs, Dp, r0 / 2, n2, /*accumulate=*/true,
                        a.bf16_dp);
      for (int64_t r = 0; r < rows; ++r)
        bf16_pairs::pair_adjacent(w.ds_keys.data() + r * kHalf, w.ds.data() + r * kKeyTile, cols);
      pair_tile_product(w.dq.data() + r0 * Dp, Dp, rows, Dp, w.ds_keys.data(), kHalf, 1,
                        w.k2.data(), kHalf, Dp, 0, pairs_of(cols), /*accumulate=*/true, a.bf16_dp);
    } else {
      tile_product_packed(w.dk.data(), Dp, cols, Dp, w.ds.data(), 1, kKeyTile,
                          run.pq->q_strips.data(), run.pq->rows, Dp, r0, rows, /*accumulate=*/true);
      tile_product_packed(w.dq.data() + r0 * Dp, Dp, rows, Dp, w.ds.data(), kKeyTile, 1, w.k.data(),
                          kKeyTile, Dp, 0, cols, /*accumulate=*/true);
    }
  }

  // Qs carries scale*log2(e); dk wants scale, so multiply by ln2.
  for (int64_t j = 0; j < nk; ++j) {
    const int64_t off = b * g.dkv_batch + (k0 + j) * g.kv_row + h_kv * D;
    float* dk = a.dk + off;
    float* dv = a.dv + off;
    if (a.accumulate) {
      for (int64_t x = 0; x < D; ++x) {
        dk[x] += w.dk[j * Dp + x] * kLn2;
        dv[x] += w.dv[j * Dp + x];
      }
    } else {
      for (int64_t x = 0; x < D; ++x) {
        dk[x] = w.dk[j * Dp + x] * kLn2;
        dv[x] = w.dv[j * Dp + x];
      }
    }
  }
}

// Owner of key tile kt among nt threads: round robin, reversed every other
// round ("snake"), so the costly early tiles of a causal pass (seen by most
// queries) spread evenly.
inline int tile_owner(int64_t kt, int nt) {
  const int64_t round = kt / nt, idx = kt % nt;
  return static_cast<int>(round % 2 == 0 ? idx : nt - 1 - idx);
}

}  // namespace backward_detail

// Runs the backward described by `a` (validated by the caller) on all threads.
inline void backward_tiles(const BackwardArgs& args) {
  using namespace backward_detail;
  BackwardArgs a = args;
  a.bf16 = a.g.bf16_products;
  a.bf16_dp = a.bf16 && bf16_instruction_here();
  const AttentionGeometry& g = a.g;
  if (g.T_q == 0 || g.T_kv == 0) {  // no query sees a key: every gradient is zero
    if (!a.accumulate) {
      std::memset(a.dq, 0, static_cast<size_t>(g.B * g.T_q * g.q_row) * sizeof(float));
      std::memset(a.dk, 0, static_cast<size_t>(g.B * g.dkv_batch) * sizeof(float));
      std::memset(a.dv, 0, static_cast<size_t>(g.B * g.dkv_batch) * sizeof(float));
    }
    return;
  }
  BackwardRun run{a, nullptr, round_up_lanes(g.D), std::max<int64_t>(1, kQueryRowsTarget / g.G),
                  static_cast<float>(g.scale) * kLog2e};
  const int64_t n_tiles = (g.T_kv + kKeyTile - 1) / kKeyTile;
  const int64_t dq_rows = g.T_q * g.G;
  const float dq_scale = static_cast<float>(g.scale);
  const int n_threads = omp_get_max_threads();
  PackedQueries pq(dq_rows, g.D, run.Dp, a.bf16);
  run.pq = &pq;
  std::vector<BackwardScratch> scratch;  // allocated here so OOM throws outside OpenMP
  scratch.reserve(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t)
    scratch.emplace_back(run.block_pos * g.G, g.D, run.Dp, dq_rows, a.bf16);

#pragma omp parallel num_threads(n_threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    BackwardScratch& w = scratch[static_cast<size_t>(t)];
    for (int64_t group = 0; group < g.B * g.H_kv; ++group) {
      const int64_t b = group / g.H_kv, h_kv = group % g.H_kv;
#pragma omp for schedule(static)
      for (int64_t pos = 0; pos < g.T_q; ++pos) pack_query_position(run, b, h_kv, pos);
      if (a.bf16) {  // (the loop's barrier: every row is packed)
#pragma omp for schedule(static)
        for (int64_t i = 0; i < pairs_of(dq_rows); ++i) pack_query_pair(run, i);
      }
      w.dq.zero();
      for (int64_t kt = 0; kt < n_tiles; ++kt)
        if (tile_owner(kt, nt) == t) backward_key_tile(run, w, b, h_kv, kt * kKeyTile);
#pragma omp barrier
          // dq of the group (= or +=) scale * (partial_0 + partial_1 + ...), in thread order.
#pragma omp for schedule(static)
      for (int64_t row = 0; row < dq_rows; ++row) {
        const int64_t pos = row / g.G, gi = row % g.G;
        float* dst = a.dq + (b * g.T_q + pos) * g.q_row + (h_kv * g.G + gi) * g.D;
        for (int64_t x = 0; x < g.D; ++x) {
          float sum = 0.0f;
          for (int u = 0; u < nt; ++u) sum += scratch[static_cast<size_t>(u)].dq[row * run.Dp + x];
          dst[x] = (a.accumulate ? dst[x] : 0.0f) + sum * dq_scale;
        }
      }
    }
  }
}

}  // namespace

}  // namespace longctx::kernels::HWY_NAMESPACE::attention_simd
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
