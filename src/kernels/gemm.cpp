// Own GEMM (see gemm.h for the structure and the guarantees), compiled once per SIMD
// target; gemm() validates its arguments and dispatches to the best target.
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "core/buffer.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using Df = hn::ScalableTag<float>;
using Vf = hn::Vec<Df>;

// Micro-tile: kMR rows x kNR = 2 vectors of columns, all kMR * 2 accumulators in
// registers plus 2 B vectors and one broadcast (AVX2: 12 + 3 of 16 registers;
// AVX-512: 24 + 3 of 32).
constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(Df()));
constexpr int64_t kNR = 2 * kLanes;
#if HWY_TARGET == HWY_SCALAR
constexpr int64_t kMR = 4;
#elif HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr int64_t kMR = 12;
#else
constexpr int64_t kMR = 6;
#endif
constexpr int64_t kKC = kGemmDepthBlock;  // depth of a packed block: a B micro-panel is kKC * kNR floats
constexpr int64_t kNC = 4096;      // columns of B per block (256 x 4096 floats = 4 MiB)
static_assert(kNC % kNR == 0, "NC must hold whole micro-panels");

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// An operand as the product sees it: itself, or (kBf16) rounded to the nearest bf16 value
// and widened back, which is exact.
template <bool kBf16>
HWY_INLINE float operand(float x) {
  if constexpr (!kBf16) {
    return x;
  } else {
    const uint32_t u = uint32_t{store::float_to_bf16(x)} << 16;
    float r;
    std::memcpy(&r, &u, 4);
    return r;
  }
}

// Runs of B micro-panels per row block: the fewest (1 when the row blocks alone divide
// among the threads) that make n_ic * runs a multiple of nt, or failing that at least 4
// items per thread; never more runs than panels.
int64_t work_chunks(int64_t n_ic, int64_t n_panels, int nt) {
  for (int64_t c = 1; c <= std::min<int64_t>(n_panels, nt); ++c)
    if ((n_ic * c) % nt == 0) return c;
  return std::min(n_panels, std::max<int64_t>(1, ceil_div(4 * nt, n_ic)));
}

// Rows i0 .. i0+mc of op(A), depth p0 .. p0+kc, as micro-panels of kMR rows: panel q holds
// (kc, kMR) floats, element (k, r) = op(A)(i0 + q*kMR + r, p0 + k); rows past mc are zero.
template <bool kBf16>
void pack_a(float* HWY_RESTRICT ap, const GemmArgs& g, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc) {
  const int64_t full = mc / kMR * kMR;  // rows in whole panels
  if (!g.trans_a) {
    // A rows are contiguous along k. The panel is written front to back and its kMR
    // source rows are read side by side, so their cache misses overlap (row by row, each
    // short row segment would wait for memory on its own).
    for (int64_t ir = 0; ir < full; ir += kMR) {
      float* HWY_RESTRICT dst = ap + ir * kc;
      const float* HWY_RESTRICT src = g.a + (i0 + ir) * g.lda + p0;
      const int64_t lda = g.lda;
      for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 16
        for (int64_t r = 0; r < kMR; ++r) dst[k * kMR + r] = operand<kBf16>(src[r * lda + k]);
      }
    }
    if (full < mc) {
      float* HWY_RESTRICT dst = ap + full * kc;
      const int64_t rows = mc - full;
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t r = 0; r < kMR; ++r)
          dst[k * kMR + r] = r < rows ? operand<kBf16>(g.a[(i0 + full + r) * g.lda + p0 + k]) : 0.0f;
    }
    return;
  }
  // op(A) = A^T: row k of the stored matrix holds depth k of every output row, so each
  // stored row segment is read once, front to back, and scattered kMR floats per panel
  // (fixed-size copies: a runtime length would become memmove calls).
  for (int64_t k = 0; k < kc; ++k) {
    const float* HWY_RESTRICT src = g.a + (p0 + k) * g.lda + i0;
    for (int64_t ir = 0; ir < full; ir += kMR) {
      float* HWY_RESTRICT dst = ap + ir * kc + k * kMR;
#pragma GCC unroll 16
      for (int64_t r = 0; r < kMR; ++r) dst[r] = operand<kBf16>(src[ir + r]);
    }
    if (full < mc) {
      float* HWY_RESTRICT dst = ap + full * kc + k * kMR;
      for (int64_t r = 0; r < kMR; ++r) dst[r] = full + r < mc ? operand<kBf16>(src[full + r]) : 0.0f;
    }
  }
}

// One (kc, kNR) micro-panel from B stored (N, K): panel(k, j) = src[j * ldb + k] for the
// first `cols` rows, zero past them.
template <bool kBf16>
HWY_INLINE void pack_b_panel(float* HWY_RESTRICT panel, const float* HWY_RESTRICT src, int64_t ldb,
                             int64_t kc, int64_t cols) {
  if (cols == kNR) {
    for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 32
      for (int64_t j = 0; j < kNR; ++j) panel[k * kNR + j] = operand<kBf16>(src[j * ldb + k]);
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t j = 0; j < kNR; ++j) panel[k * kNR + j] = j < cols ? operand<kBf16>(src[j * ldb + k]) : 0.0f;
}

// Micro-panels [part/parts] of B stored (N, K), columns jc .. jc+nc, depth p0 .. p0+kc, each
// of kCols source rows handed to pack(p, src, ld, cols): src is B itself, or typed rows
// (GemmArgs::b_rows) first converted, depth p0 .. p0+kc of each of the panel's rows, into an
// f32 block in L1.
template <int64_t kCols, class Pack>
HWY_INLINE void for_each_nk_panel(const GemmArgs& g, int64_t jc, int64_t nc, int64_t p0, int64_t kc,
                                  int part, int parts, const Pack& pack) {
  const int64_t n_panels = ceil_div(nc, kCols);
  HWY_ALIGN float converted[kCols * kKC];
  for (int64_t p = n_panels * part / parts; p < n_panels * (part + 1) / parts; ++p) {
    const int64_t cols = std::min(kCols, nc - p * kCols);
    if (g.b_rows == nullptr) {
      pack(p, g.b + (jc + p * kCols) * g.ldb + p0, g.ldb, cols);
      continue;
    }
    const auto* rows = static_cast<const uint8_t*>(g.b_rows) + (jc + p * kCols) * g.b_row_bytes;
    for (int64_t j = 0; j < cols; ++j)
      store::dequantize_range(converted + j * kc, g.b_type, rows + j * g.b_row_bytes, p0, kc);
    pack(p, converted, kc, cols);
  }
}

// Columns jc .. jc+nc of op(B), depth p0 .. p0+kc, as (kc, kNR) micro-panels (panel p at
// bp + p*kc*kNR; columns past nc are zero). Only the work share [part/parts] is packed, so
// the threads of a parallel region split it: by depth rows when B is stored (K, N) (each
// stored row segment is then read once, front to back), by panels when it is stored (N, K).
template <bool kBf16>
void pack_b_share(float* HWY_RESTRICT bp, const GemmArgs& g, int64_t jc, int64_t nc, int64_t p0,
                  int64_t kc, int part, int parts) {
  const int64_t n_panels = (nc + kNR - 1) / kNR;
  const int64_t full = nc / kNR;  // panels with kNR real columns
  if (!g.trans_b) {
    const Df d;
    for (int64_t k = kc * part / parts; k < kc * (part + 1) / parts; ++k) {
      const float* HWY_RESTRICT src = g.b + (p0 + k) * g.ldb + jc;
      for (int64_t p = 0; p < full; ++p) {
        float* HWY_RESTRICT dst = bp + p * kc * kNR + k * kNR;
        if constexpr (kBf16) {
          for (int64_t j = 0; j < kNR; ++j) dst[j] = operand<kBf16>(src[p * kNR + j]);
        } else {
          hn::Store(hn::LoadU(d, src + p * kNR), d, dst);
          hn::Store(hn::LoadU(d, src + p * kNR + kLanes), d, dst + kLanes);
        }
      }
      if (full < n_panels) {
        float* HWY_RESTRICT dst = bp + full * kc * kNR + k * kNR;
        const int64_t cols = nc - full * kNR;
        for (int64_t j = 0; j < kNR; ++j)
          dst[j] = j < cols ? operand<kBf16>(src[full * kNR + j]) : 0.0f;
      }
    }
    return;
  }
  // B stored (N, K): the panel's kNR source rows are read side by side and the panel
  // written front to back (see pack_a).
  for_each_nk_panel<kNR>(g, jc, nc, p0, kc, part, parts,
                         [&](int64_t p, const float* src, int64_t ld, int64_t cols) {
                           pack_b_panel<kBf16>(bp + p * kc * kNR, src, ld, kc, cols);
                         });
}

// C tile (kMR, kNR) with row stride ldc = (load_c ? C : 0) + sum_k ap(k, :)^T bp(k, :).
// The products are summed from zero and C is added at the end, so the tile's C rows,
// prefetched first, arrive while the FMAs run instead of stalling the first of them.
HWY_INLINE void micro_tile(int64_t kc, const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bp,
                           float* HWY_RESTRICT c, int64_t ldc, bool load_c) {
  const Df d;
#pragma GCC unroll 16
  for (int64_t r = 0; r < kMR; ++r) {
    hwy::Prefetch(c + r * ldc);
    hwy::Prefetch(c + r * ldc + kNR - 1);
  }
  Vf acc0[kMR], acc1[kMR];
#pragma GCC unroll 16
  for (int64_t r = 0; r < kMR; ++r) acc0[r] = acc1[r] = hn::Zero(d);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const Vf b0 = hn::Load(d, bp);
    const Vf b1 = hn::Load(d, bp + kLanes);
#pragma GCC unroll 16
    for (int64_t r = 0; r < kMR; ++r) {
      const Vf a = hn::Set(d, ap[r]);
      acc0[r] = hn::MulAdd(a, b0, acc0[r]);
      acc1[r] = hn::MulAdd(a, b1, acc1[r]);
    }
    ap += kMR;
    bp += kNR;
  }
#pragma GCC unroll 16
  for (int64_t r = 0; r < kMR; ++r) {
    if (load_c) {
      acc0[r] = hn::Add(acc0[r], hn::LoadU(d, c + r * ldc));
      acc1[r] = hn::Add(acc1[r], hn::LoadU(d, c + r * ldc + kLanes));
    }
    hn::StoreU(acc0[r], d, c + r * ldc);
    hn::StoreU(acc1[r], d, c + r * ldc + kLanes);
  }
}

// A tile of rows x cols (<= kRows x kCols) at c, computed by micro(dst, ld), which writes a
// whole kRows x kCols tile (adding to it when load_c): full tiles go straight to C, edge
// tiles through a scratch tile so nothing outside C is read or written.
template <int64_t kRows, int64_t kCols, class Micro>
HWY_INLINE void tile_into_c(float* c, int64_t ldc, int64_t rows, int64_t cols, bool load_c,
                            const Micro& micro) {
  if (rows == kRows && cols == kCols) {
    micro(c, ldc);
    return;
  }
  HWY_ALIGN float t[kRows * kCols];
  if (load_c) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(t + r * kCols, c + r * ldc, cols * sizeof(float));
  }
  micro(t, kCols);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(c + r * ldc, t + r * kCols, cols * sizeof(float));
}

// The operand layouts gemm_packed can run on. Each says what a packed element is, the
// micro-tile (kRows x kCols), how many elements one row of a micro-panel holds per kc
// depth, how to pack blocks of A and B, and the micro-tile itself.
//
// FloatPanels: fp32 elements, (kc, kMR) A and (kc, kNR) B micro-panels, FMA micro-tiles;
// kBf16 rounds every operand to bf16 while packing (the products then see bf16 inputs).
template <bool kBf16>
struct FloatPanels {
  using T = float;
  static constexpr int64_t kRows = kMR, kCols = kNR;
  static int64_t depth(int64_t kc) { return kc; }
  static void pack_a_block(T* ap, const GemmArgs& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_a<kBf16>(ap, g, i0, mc, p0, kc);
  }
  static void pack_b_block(T* bp, const GemmArgs& g, int64_t jc, int64_t nc, int64_t p0, int64_t kc,
                           int part, int parts) {
    pack_b_share<kBf16>(bp, g, jc, nc, p0, kc, part, parts);
  }
  static void run_tile(int64_t kc, const T* ap, const T* bp, float* c, int64_t ldc, int64_t rows,
                       int64_t cols, bool load_c) {
    tile_into_c<kMR, kNR>(c, ldc, rows, cols, load_c,
                          [&](float* dst, int64_t ld) { micro_tile(kc, ap, bp, dst, ld, load_c); });
  }
};

}  // namespace
}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#include "kernels/gemm_bf16-inl.h"  // Bf16Pairs: bf16 operand pairs for vdpbf16ps (AVX-512)

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

// sum_k a[k] * b[k], fixed order (4 vector accumulators, then the tail).
HWY_INLINE float dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t n) {
  const Df d;
  Vf s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  int64_t k = 0;
  for (; k + 4 * kLanes <= n; k += 4 * kLanes) {
    s0 = hn::MulAdd(hn::LoadU(d, a + k), hn::LoadU(d, b + k), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + k + kLanes), hn::LoadU(d, b + k + kLanes), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + k + 2 * kLanes), hn::LoadU(d, b + k + 2 * kLanes), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + k + 3 * kLanes), hn::LoadU(d, b + k + 3 * kLanes), s3);
  }
  for (; k + kLanes <= n; k += kLanes) s0 = hn::MulAdd(hn::LoadU(d, a + k), hn::LoadU(d, b + k), s0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; k < n; ++k) s += a[k] * b[k];
  return s;
}

// M <= kGemvRows: no packing. With trans_b (x @ W^T, the inference form) each output is a
// dot product of two contiguous rows; otherwise C rows are updated with rows of B.
void gemm_few_rows(const GemmArgs& g) {
  const int64_t M = g.M, N = g.N, K = g.K;
  // op(A) rows made contiguous (M * K floats; tiny for M <= kGemvRows).
  Buffer<float> arows(static_cast<size_t>(M * K));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      arows[m * K + k] = g.trans_a ? g.a[k * g.lda + m] : g.a[m * g.lda + k];
  const bool par = M * N * K > (1 << 16);
  if (g.trans_b) {
#pragma omp parallel for schedule(static) if (par)
    for (int64_t n = 0; n < N; ++n) {
      const float* brow = g.b + n * g.ldb;
      for (int64_t m = 0; m < M; ++m) {
        const float s = dot(arows.data() + m * K, brow, K);
        float& c = g.c[m * g.ldc + n];
        c = g.accumulate ? c + s : s;
      }
    }
    return;
  }
  constexpr int64_t kCols = 512;  // columns per work item (one C strip per row in L1)
  const int64_t n_blocks = ceil_div(N, kCols);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t j0 = blk * kCols, cols = std::min(kCols, N - j0);
    const Df d;
    for (int64_t m = 0; m < M; ++m) {
      float* c = g.c + m * g.ldc + j0;
      if (!g.accumulate) std::fill(c, c + cols, 0.0f);
      for (int64_t k = 0; k < K; ++k) {
        const float* brow = g.b + k * g.ldb + j0;
        const Vf a = hn::Set(d, arows[m * K + k]);
        int64_t j = 0;
        for (; j + kLanes <= cols; j += kLanes)
          hn::StoreU(hn::MulAdd(a, hn::LoadU(d, brow + j), hn::LoadU(d, c + j)), d, c + j);
        for (; j < cols; ++j) c[j] += arows[m * K + k] * brow[j];
      }
    }
  }
}

// Packing, blocking and the micro-tiles (any M; gemm_target sends small M without bf16
// rounding to gemm_few_rows), for the operand layout P (FloatPanels or Bf16Pairs).
template <class P>
void gemm_packed(const GemmArgs& g) {
  using T = typename P::T;
  constexpr int64_t kRows = P::kRows, kCols = P::kCols, kBlockRows = P::kRows * 20;
  const int n_threads = omp_get_max_threads();
  const int64_t kd_max = P::depth(std::min(kKC, g.K));  // packed elements per micro-panel row
  const int64_t nc_max = std::min(kNC, ceil_div(g.N, kCols) * kCols);
  // Row blocks of whole micro-tiles (at most kBlockRows: AVX2 120 rows, 120 KiB of A at kc 256) whose sizes differ by at most one
  // micro-tile (block ic holds tiles [ic * tiles / n_ic, (ic + 1) * tiles / n_ic)), so
  // no thread is left with more rows than another; their number a multiple of the thread
  // count when blocks of at least 4 micro-tiles allow, so each thread's A blocks are
  // packed once and serve the whole width of B. (Blocks of one fixed size left the last
  // one short: a 512-row prefill chunk made 5 blocks of 90 rows and one of 62, so with 2
  // threads one had 270 rows to the other's 242; now 258 and 254.)
  const int64_t tiles = ceil_div(g.M, kRows);
  int64_t n_ic = ceil_div(tiles, kBlockRows / kRows);
  const int64_t n_ic_even = ceil_div(n_ic, n_threads) * n_threads;
  if (n_ic_even != n_ic && tiles / n_ic_even >= 4) n_ic = n_ic_even;
  const int64_t mc_block = ceil_div(tiles, n_ic) * kRows;  // the largest block, <= kBlockRows
  const auto block_row = [&](int64_t ic) { return std::min(g.M, ic * tiles / n_ic * kRows); };
  // Small products whose B, all depth blocks of it, fits in one block's budget (tiny's
  // 256 x 256 x 1024 dW: 1 MiB): B is packed for every depth block at once behind one
  // barrier, and each thread then runs its items through all depth blocks without waiting
  // for the other threads (a static schedule gives a thread the same items, so the same C
  // tiles, in every depth block). Two barriers instead of two per 256-deep block.
  const int64_t n_pc = ceil_div(g.K, kKC), b_block_size = kd_max * nc_max;
  const bool whole_depth = n_pc > 1 && g.N <= kNC && n_pc * b_block_size <= P::depth(kKC) * kNC;
  // Allocated before the parallel region so that running out of memory throws here.
  // Per depth block (nc / kCols) x (kd, kCols).
  Buffer<T> b_block(static_cast<size_t>(whole_depth ? n_pc * b_block_size : b_block_size));
  Buffer<T> a_blocks(static_cast<size_t>(n_threads * mc_block * kd_max));  // per thread (mc, kd)
  const bool par = g.M * g.N * g.K > (1 << 18);
#pragma omp parallel num_threads(n_threads) if (par)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    T* ap = a_blocks.data() + static_cast<int64_t>(t) * mc_block * kd_max;
    for (int64_t jc = 0; jc < g.N; jc += kNC) {
      const int64_t nc = std::min(kNC, g.N - jc);
      const int64_t n_panels = ceil_div(nc, kCols);
      // Work items: (row block, run of B micro-panels). The runs split the block's
      // panels evenly and their number makes the items a multiple of the thread count,
      // so every thread gets the same work; a static schedule hands each thread adjacent
      // items, which mostly share a row block, so A is rarely packed twice.
      const int64_t n_chunks = work_chunks(n_ic, n_panels, nt);
      if (whole_depth) {
        for (int64_t pc = 0; pc < g.K; pc += kKC)
          P::pack_b_block(b_block.data() + pc / kKC * b_block_size, g, jc, nc, pc,
                          std::min(kKC, g.K - pc), t, nt);
#pragma omp barrier
      }
      for (int64_t pc = 0; pc < g.K; pc += kKC) {
        const int64_t kc = std::min(kKC, g.K - pc), kd = P::depth(kc);
        const bool load_c = g.accumulate || pc > 0;
        const T* bb = b_block.data() + (whole_depth ? pc / kKC * b_block_size : 0);
        if (!whole_depth) {
          P::pack_b_block(b_block.data(), g, jc, nc, pc, kc, t, nt);
#pragma omp barrier
        }
        int64_t packed_ic = -1;
        const auto run_item = [&](int64_t item) {
          const int64_t ic = item / n_chunks, chunk = item % n_chunks;
          const int64_t i0 = block_row(ic), mc = block_row(ic + 1) - i0;
          if (packed_ic != ic) {
            P::pack_a_block(ap, g, i0, mc, pc, kc);
            packed_ic = ic;
          }
          const int64_t p_begin = chunk * n_panels / n_chunks;
          const int64_t p_end = (chunk + 1) * n_panels / n_chunks;
          for (int64_t p = p_begin; p < p_end; ++p) {
            const int64_t j0 = jc + p * kCols, cols = std::min(kCols, g.N - j0);
            const T* bp = bb + p * kd * kCols;
            for (int64_t ir = 0; ir < mc; ir += kRows)
              P::run_tile(kc, ap + ir * kd, bp, g.c + (i0 + ir) * g.ldc + j0, g.ldc,
                          std::min(kRows, mc - ir), cols, load_c);
          }
        };
        if (whole_depth) {
#pragma omp for schedule(static) nowait
          for (int64_t item = 0; item < n_ic * n_chunks; ++item) run_item(item);
        } else {
#pragma omp for schedule(static)
          for (int64_t item = 0; item < n_ic * n_chunks; ++item) run_item(item);
        }
      }
    }
  }
}

}  // namespace

void gemm_target(const GemmArgs& g) {
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {
    if (!g.accumulate)
      for (int64_t m = 0; m < g.M; ++m) std::fill(g.c + m * g.ldc, g.c + m * g.ldc + g.N, 0.0f);
    return;
  }
  if (g.bf16_inputs) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    if (gemm_bf16_instruction()) {
      gemm_packed<Bf16Pairs>(g);
      return;
    }
#endif
    gemm_packed<FloatPanels<true>>(g);
  } else if (g.M <= kGemvRows && g.b_rows == nullptr) {
    gemm_few_rows(g);
  } else {
    gemm_packed<FloatPanels<false>>(g);
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cblas.h>

#include <atomic>
#include <cstring>

namespace longctx::kernels {

namespace {

void check_args(const GemmArgs& g, const char* op) {
  LONGCTX_CHECK(g.M >= 0 && g.N >= 0 && g.K >= 0, "%s: negative size M=%lld N=%lld K=%lld", op,
                static_cast<long long>(g.M), static_cast<long long>(g.N),
                static_cast<long long>(g.K));
  if (g.M == 0 || g.N == 0) return;
  LONGCTX_CHECK(g.c != nullptr && g.ldc >= g.N, "%s: C is null or ldc (%lld) < N (%lld)", op,
                static_cast<long long>(g.ldc), static_cast<long long>(g.N));
  if (g.K == 0) return;
  const int64_t a_cols = g.trans_a ? g.M : g.K, b_cols = g.trans_b ? g.K : g.N;
  LONGCTX_CHECK(g.lda >= a_cols, "%s: lda (%lld) < %lld columns of A as stored", op,
                static_cast<long long>(g.lda), static_cast<long long>(a_cols));
  if (g.b_rows != nullptr) {
    LONGCTX_CHECK(g.a != nullptr && g.trans_b, "%s: A is null, or typed B rows without trans_b", op);
    const size_t need = storage_row_bytes(g.b_type, g.K);  // throws for K off the Q8_0 blocks
    LONGCTX_CHECK(g.b_row_bytes >= need, "%s: typed B rows of %zu bytes < the %zu of %lld %s values",
                  op, g.b_row_bytes, need, static_cast<long long>(g.K), storage_type_name(g.b_type));
    return;
  }
  LONGCTX_CHECK(g.a != nullptr && g.b != nullptr, "%s: A or B is null", op);
  LONGCTX_CHECK(g.ldb >= b_cols, "%s: ldb (%lld) < %lld columns of B as stored", op,
                static_cast<long long>(g.ldb), static_cast<long long>(b_cols));
}

MatmulEngine engine_from_environment() {
  const char* env = std::getenv("LONGCTX_MATMUL");
  return env && *env ? parse_matmul_engine(env, "LONGCTX_MATMUL") : MatmulEngine::kOwn;
}

std::atomic<int>& engine_state() {
  static std::atomic<int> state{static_cast<int>(engine_from_environment())};
  return state;
}

MatmulPrecision precision_from_environment() {
  const char* env = std::getenv("LONGCTX_MATMUL_PRECISION");
  return env && *env ? parse_matmul_precision(env, "LONGCTX_MATMUL_PRECISION")
                     : MatmulPrecision::kF32;
}

std::atomic<bool>& bf16_instruction_allowed() {
  static std::atomic<bool> allowed{true};
  return allowed;
}

std::atomic<int>& precision_state() {
  static std::atomic<int> state{static_cast<int>(precision_from_environment())};
  return state;
}

}  // namespace

HWY_EXPORT(gemm_target);

void gemm(const GemmArgs& args) {
  check_args(args, "gemm");
  HWY_DYNAMIC_DISPATCH(gemm_target)(args);
}

void gemm_blas(const GemmArgs& g) {
  check_args(g, "gemm_blas");
  LONGCTX_CHECK(!g.bf16_inputs,
                "gemm_blas: bf16 inputs need the own engine (LONGCTX_MATMUL=own), the BLAS "
                "library multiplies fp32 only");
  LONGCTX_CHECK(g.b_rows == nullptr,
                "gemm_blas: typed B rows (%s) need the own engine, the BLAS library multiplies "
                "fp32 only", storage_type_name(g.b_type));
  if (g.M == 0 || g.N == 0) return;
  LONGCTX_CHECK(g.M <= INT_MAX && g.N <= INT_MAX && g.K <= INT_MAX && g.lda <= INT_MAX &&
                    g.ldb <= INT_MAX && g.ldc <= INT_MAX,
                "gemm_blas: sizes beyond the BLAS int range");
  if (g.K == 0) {  // BLAS may skip the beta scaling here; do it ourselves
    if (!g.accumulate)
      for (int64_t m = 0; m < g.M; ++m) std::fill(g.c + m * g.ldc, g.c + m * g.ldc + g.N, 0.0f);
    return;
  }
  cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
              g.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(g.M), static_cast<int>(g.N),
              static_cast<int>(g.K), 1.0f, g.a, static_cast<int>(g.lda), g.b,
              static_cast<int>(g.ldb), g.accumulate ? 1.0f : 0.0f, g.c, static_cast<int>(g.ldc));
}

bool gemm_bf16_instruction() {
  static const bool cpu_has = cpu_features().avx512_bf16;
  return cpu_has && bf16_instruction_allowed().load(std::memory_order_relaxed);
}

void set_gemm_bf16_instruction(bool allowed) { bf16_instruction_allowed().store(allowed); }

MatmulEngine matmul_engine() { return static_cast<MatmulEngine>(engine_state().load()); }

void set_matmul_engine(MatmulEngine engine) { engine_state().store(static_cast<int>(engine)); }

const char* matmul_engine_name(MatmulEngine engine) {
  return engine == MatmulEngine::kOwn ? "own" : "blas";
}

MatmulPrecision matmul_precision() {
  return static_cast<MatmulPrecision>(precision_state().load());
}

void set_matmul_precision(MatmulPrecision precision) {
  precision_state().store(static_cast<int>(precision));
}

const char* matmul_precision_name(MatmulPrecision precision) {
  return precision == MatmulPrecision::kF32 ? "fp32" : "bf16";
}

MatmulPrecision parse_matmul_precision(const char* text, const char* what) {
  if (std::strcmp(text, "fp32") == 0) return MatmulPrecision::kF32;
  if (std::strcmp(text, "bf16") == 0) return MatmulPrecision::kBf16;
  LONGCTX_CHECK(false, "%s: unknown matrix-product precision '%s' (known: fp32, bf16)", what, text);
  return MatmulPrecision::kF32;
}

MatmulEngine parse_matmul_engine(const char* text, const char* what) {
  if (std::strcmp(text, "own") == 0) return MatmulEngine::kOwn;
  if (std::strcmp(text, "blas") == 0) return MatmulEngine::kBlas;
  LONGCTX_CHECK(false, "%s: unknown matrix-product engine '%s' (known: own, blas)", what, text);
  return MatmulEngine::kOwn;
}

size_t gemm_scratch_bytes(int64_t M, int64_t N, int64_t K, int n_threads) {
  // gemm_packed's blocks with the largest micro-tile of any target (AVX-512: 12 rows x 32
  // columns; kKC = 256, kNC = 4096, 20 micro-tile rows per block; fp32 elements, the
  // largest: bf16 pairs take half); gemm_few_rows' A rows. B of every depth block at once
  // when that fits the budget of one (whole_depth).
  const auto round_up = [](int64_t x, int64_t m) { return (x + m - 1) / m * m; };
  const int64_t kc = std::min<int64_t>(256, K), nc = std::min<int64_t>(4096, round_up(N, 32));
  const int64_t mc = std::min<int64_t>(240, round_up(M, 12));
  const int64_t whole = round_up(K, 256) * nc;
  const int64_t b = K > 256 && N <= 4096 && whole <= 256 * 4096 ? whole : kc * nc;
  const int64_t packed = b + static_cast<int64_t>(n_threads) * mc * kc;
  return static_cast<size_t>(std::max(packed, M * K)) * sizeof(float);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
