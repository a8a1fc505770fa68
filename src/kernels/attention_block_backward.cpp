// Tiled block attention backward (attention_block.h): this block's part of the gradients,
// probabilities recomputed tile by tile from q, k and the final log-sum-exp of each row,
//   P = exp(s - lse),  dV += P^T dO,  dP = dO V^T,  dS = P * (dP - D_i),
//   dK += scale dS^T Q,  dQ += scale dS K,  with D_i = rowsum(dO_i * O_i) of the final O.
//
// Determinism as in the causal backward (attention_backward.cpp): kv heads in turn; within
// one, key tile t belongs to thread t mod n_threads (every tile sees every query block, so
// the work is even), which alone accumulates that tile's dk/dv rows over all query blocks
// in a fixed order; dq goes to a per-thread partial (T_q*G, Dp) summed in thread order.
// Same inputs and thread count give bit-identical results; dk and dv do not depend on the
// thread count.
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
#define HWY_TARGET_INCLUDE "kernels/attention_block_backward.cpp"
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

struct BlockBackwardScratch {
  Buffer<float> kt, vt;  // (D, Bc) key and value tile, transposed
  Buffer<float> k;       // (Bc, Dp) key tile
  Buffer<float> dk, dv;  // (Bc, Dp) gradient accumulators of the key tile
  Buffer<float> p, ds;   // (rows, Bc) probabilities; dP, then dS
  Buffer<float> dq;      // (T_q*G, Dp) this thread's dq partial for the current kv head
  BlockBackwardScratch(int64_t rows, int64_t D, int64_t Dp, int64_t dq_rows)
      : kt(D * kKeyTile),
        vt(D * kKeyTile),
        k(kKeyTile * Dp),
        dk(kKeyTile * Dp),
        dv(kKeyTile * Dp),
        p(rows * kKeyTile),
        ds(rows * kKeyTile),
        dq(dq_rows * Dp) {}
};

// The query side of the current kv head, packed once and shared by all key tiles; row
// r = position * G + head in group.
struct PackedBlockQueries {
  Buffer<float> q;          // (T_q*G, Dp) query rows scaled by scale*log2(e)
  Buffer<float> dout;       // (T_q*G, Dp)
  Buffer<float> lse2, dot;  // (T_q*G) final lse in log2 units; D_i = rowsum(dout * out)
  PackedBlockQueries(int64_t rows, int64_t Dp)
      : q(rows * Dp), dout(rows * Dp), lse2(rows), dot(rows) {}
};

struct BlockBackwardArgs {
  float* dk;
  float* dv;
  const float* dout;
  const float* out;
  const float* lse;
  const float* q;
  const float* k;
  const float* v;
  const int32_t* q_seg;  // (T_q) or null
  const int32_t* k_seg;  // (T_kv) or null
  BlockGeometry g;
  PackedBlockQueries* pq;  // of the kv head being processed
  int64_t Dp;
  int64_t block_pos;  // query positions per block
  float q_scale;      // scale * log2(e)
};

void pack_block_query_position(const BlockBackwardArgs& a, int64_t h_kv, int64_t pos) {
  const BlockGeometry& g = a.g;
  const int64_t D = g.D, Dp = a.Dp, G = g.G;
  PackedBlockQueries& w = *a.pq;
  const int64_t off = pos * g.q_row + h_kv * G * D;
  for (int64_t gi = 0; gi < G; ++gi) {
    const int64_t r = pos * G + gi;
    const float* qr = a.q + off + gi * D;
    const float* dor = a.dout + off + gi * D;
    const float* outr = a.out + off + gi * D;
    float dot = 0.0f;
    for (int64_t x = 0; x < D; ++x) {
      w.q[r * Dp + x] = qr[x] * a.q_scale;
      w.dout[r * Dp + x] = dor[x];
      dot += dor[x] * outr[x];
    }
    w.dot[r] = dot;
    w.lse2[r] = a.lse[(h_kv * G + gi) * g.lse_stride + pos] * kLog2e;
  }
}

void block_backward_key_tile(const BlockBackwardArgs& a, BlockBackwardScratch& w, int64_t h_kv,
                             int64_t k0) {
  const BlockGeometry& g = a.g;
  const int64_t D = g.D, Dp = a.Dp, G = g.G, N = lanes();
  const int64_t nk = std::min(kKeyTile, g.T_kv - k0);
  const int64_t cols = round_up_lanes(nk);
  for (int64_t j = 0; j < cols; ++j) {
    const bool valid = j < nk;
    const float* kr = a.k + (k0 + j) * g.kv_row + h_kv * D;
    const float* vr = a.v + (k0 + j) * g.kv_row + h_kv * D;
    for (int64_t x = 0; x < D; ++x) {
      w.kt[x * kKeyTile + j] = valid ? kr[x] : 0.0f;
      w.vt[x * kKeyTile + j] = valid ? vr[x] : 0.0f;
      w.k[j * Dp + x] = valid ? kr[x] : 0.0f;
    }
  }
  std::memset(w.dk.data(), 0, static_cast<size_t>(cols * Dp) * sizeof(float));
  std::memset(w.dv.data(), 0, static_cast<size_t>(cols * Dp) * sizeof(float));
  int32_t k_seg_lo = 0, k_seg_hi = 0;
  if (a.k_seg) segment_range(a.k_seg, k0, k0 + nk - 1, k_seg_lo, k_seg_hi);

  const Df d;
  for (int64_t p0 = 0; p0 < g.T_q; p0 += a.block_pos) {
    const int64_t np = std::min(a.block_pos, g.T_q - p0);
    const int64_t rows = np * G;
    bool seg_uniform = true;
    if (a.q_seg) {
      int32_t lo, hi;
      segment_range(a.q_seg, p0, p0 + np - 1, lo, hi);
      if (hi < k_seg_lo || lo > k_seg_hi) continue;  // no shared segment: skip the block
      seg_uniform = lo == hi && k_seg_lo == k_seg_hi && lo == k_seg_lo;
    }
    const int64_t r0 = p0 * G;  // first packed query row of the block
    const float* qs = a.pq->q.data() + r0 * Dp;
    const float* dout = a.pq->dout.data() + r0 * Dp;
    // S (rows, cols) = Qs (rows, D) * K^T (D, cols), then P = exp2(S - lse2) in place.
    tile_product(w.p.data(), kKeyTile, rows, cols, qs, Dp, 1, w.kt.data(), kKeyTile, D,
                 /*accumulate=*/false);
    const bool need_mask = cols > nk || !seg_uniform;
    for (int64_t r = 0; r < rows; ++r) {
      float* prow = w.p.data() + r * kKeyTile;
      const float lse2 = a.pq->lse2[r0 + r];
      if (lse2 == kNegInf) {  // the row sees no key at all: no gradient through it
        std::memset(prow, 0, static_cast<size_t>(cols) * sizeof(float));
        continue;
      }
      if (need_mask) {
        const int32_t* seg_row = a.k_seg ? a.k_seg + k0 : nullptr;
        const int32_t q_seg = a.q_seg ? a.q_seg[p0 + r / G] : 0;
        for (int64_t j = 0; j < cols; ++j)
          if (j >= nk || (seg_row && seg_row[j] != q_seg)) prow[j] = kNegInf;
      }
      const Vf vl = hn::Set(d, lse2);
      for (int64_t j = 0; j < cols; j += N)
        hn::StoreU(exp2_nonpositive(d, hn::Sub(hn::LoadU(d, prow + j), vl)), d, prow + j);
    }
    // dV (cols, Dp) += P^T (cols, rows) * dO (rows, Dp)
    tile_product(w.dv.data(), Dp, cols, Dp, w.p.data(), 1, kKeyTile, dout, Dp, rows,
                 /*accumulate=*/true);
    // dP (rows, cols) = dO (rows, D) * V^T (D, cols)
    tile_product(w.ds.data(), kKeyTile, rows, cols, dout, Dp, 1, w.vt.data(), kKeyTile, D,
                 /*accumulate=*/false);
    for (int64_t r = 0; r < rows; ++r) {
      float* prow = w.p.data() + r * kKeyTile;
      float* dsrow = w.ds.data() + r * kKeyTile;
      const Vf vdot = hn::Set(d, a.pq->dot[r0 + r]);
      for (int64_t j = 0; j < cols; j += N) {
        const Vf ds = hn::Mul(hn::LoadU(d, prow + j), hn::Sub(hn::LoadU(d, dsrow + j), vdot));
        hn::StoreU(ds, d, dsrow + j);
      }
    }
    // dK (cols, Dp) += dS^T (cols, rows) * Qs (rows, Dp)   (times ln2 on the way out)
    tile_product(w.dk.data(), Dp, cols, Dp, w.ds.data(), 1, kKeyTile, qs, Dp, rows,
                 /*accumulate=*/true);
    // dQ partial rows (rows, Dp) += dS (rows, cols) * K (cols, Dp)   (times scale later)
    tile_product(w.dq.data() + r0 * Dp, Dp, rows, Dp, w.ds.data(), kKeyTile, 1, w.k.data(), Dp,
                 cols, /*accumulate=*/true);
  }

  // Qs carries scale*log2(e); dk wants scale, so multiply by ln2. Accumulated into dk, dv.
  for (int64_t j = 0; j < nk; ++j) {
    const int64_t off = (k0 + j) * g.kv_row + h_kv * D;
    for (int64_t x = 0; x < D; ++x) {
      a.dk[off + x] += w.dk[j * Dp + x] * kLn2;
      a.dv[off + x] += w.dv[j * Dp + x];
    }
  }
}

}  // namespace

void attention_block_backward_target(float* dq, float* dk, float* dv, const float* dout,
                                     const float* out, const float* lse, const float* q,
                                     const float* k, const float* v,
                                     const AttentionBlockShape& shape, const int32_t* q_segments,
                                     const int32_t* k_segments) {
  BlockBackwardArgs a;
  a.g = make_block_geometry(shape, q_segments, k_segments, "attention_block_backward");
  const BlockGeometry& g = a.g;
  if (g.T_q == 0 || g.T_kv == 0) return;  // nothing to add
  LONGCTX_CHECK(dq && dk && dv && dout && out && lse && q && k && v,
                "attention_block_backward: no pointer argument may be null");
  a.dk = dk;
  a.dv = dv;
  a.dout = dout;
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  a.q_seg = q_segments;
  a.k_seg = k_segments;
  a.Dp = round_up_lanes(g.D);
  a.block_pos = std::max<int64_t>(1, kQueryRowsTarget / g.G);
  a.q_scale = static_cast<float>(g.scale) * kLog2e;
  const int64_t n_tiles = (g.T_kv + kKeyTile - 1) / kKeyTile;
  const int64_t dq_rows = g.T_q * g.G;
  const float dq_scale = static_cast<float>(g.scale);
  const int n_threads = omp_get_max_threads();
  PackedBlockQueries pq(dq_rows, a.Dp);
  a.pq = &pq;
  std::vector<BlockBackwardScratch> scratch;  // allocated here so OOM throws outside OpenMP
  scratch.reserve(static_cast<size_t>(n_threads));
  for (int t = 0; t < n_threads; ++t) scratch.emplace_back(a.block_pos * g.G, g.D, a.Dp, dq_rows);

#pragma omp parallel num_threads(n_threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    BlockBackwardScratch& w = scratch[static_cast<size_t>(t)];
    for (int64_t h_kv = 0; h_kv < g.H_kv; ++h_kv) {
#pragma omp for schedule(static)
      for (int64_t pos = 0; pos < g.T_q; ++pos) pack_block_query_position(a, h_kv, pos);
      w.dq.zero();
      for (int64_t tile = t; tile < n_tiles; tile += nt)
        block_backward_key_tile(a, w, h_kv, tile * kKeyTile);
#pragma omp barrier
        // dq of the kv head += scale * (partial_0 + partial_1 + ...), in thread order.
#pragma omp for schedule(static)
      for (int64_t row = 0; row < dq_rows; ++row) {
        const int64_t pos = row / g.G, gi = row % g.G;
        float* dst = dq + pos * g.q_row + (h_kv * g.G + gi) * g.D;
        for (int64_t x = 0; x < g.D; ++x) {
          float sum = 0.0f;
          for (int u = 0; u < nt; ++u) sum += scratch[static_cast<size_t>(u)].dq[row * a.Dp + x];
          dst[x] += sum * dq_scale;
        }
      }
    }
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_block_backward_target);

void attention_block_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const float* q, const float* k, const float* v,
                              const AttentionBlockShape& shape, const int32_t* q_segments,
                              const int32_t* k_segments) {
  HWY_DYNAMIC_DISPATCH(attention_block_backward_target)
  (dq, dk, dv, dout, out, lse, q, k, v, shape, q_segments, k_segments);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
