// Internal to the own GEMM (gemm.cpp): the operand layout of products with bf16 inputs on
// CPUs with AVX512_BF16, for gemm_packed. Compiled once per Highway target (per-target include
// guard, Highway's -inl.h pattern): gemm.cpp includes it after its fp32 layout, inside the
// same anonymous namespace, so it uses gemm.cpp's lane count, depth block and tile_into_c;
// only the AVX-512 targets define anything.
#if defined(LONGCTX_KERNELS_GEMM_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_GEMM_BF16_INL_H_
#undef LONGCTX_KERNELS_GEMM_BF16_INL_H_
#else
#define LONGCTX_KERNELS_GEMM_BF16_INL_H_
#endif

#include <hwy/highway.h>
#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/gemm.h"
#include "kernels/bf16_pairs-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// Bf16Pairs (AVX-512 targets, used when the CPU has AVX512_BF16): each packed element is
// two bf16 operands of adjacent depths k, k+1 (k even; the lower half holds k) in 32 bits,
// and the micro-tile multiplies them with vdpbf16ps: per fp32 lane, acc += a_k b_k +
// a_k+1 b_k+1 from bf16 inputs, 32 products per instruction where an fp32 FMA does 16.
// The operands are rounded to bf16 (nearest, ties to even) as FloatPanels<true> does, so
// the two differ only in the order and rounding of the fp32 sums (and vdpbf16ps treats
// bf16 subnormals as zero). A depth kc is kc / 2 pairs rounded up, the odd last one
// paired with zero; A micro-panels are (pairs, kRows), B micro-panels (pairs, kCols).
using bf16_pairs::pair;
using bf16_pairs::pair_rows;

struct Bf16Pairs {
  using T = uint32_t;
  static constexpr int64_t kRows = 12, kCols = 32;
  static_assert(kLanes == 16 && kRows <= 16 && kCols == 32, "the packers transpose 16 x 16 words");
  static int64_t depth(int64_t kc) { return (kc + 1) / 2; }

  // r[i] lane j -> r[j] lane i (16 x 16 words): 32-bit, then 64-bit interleaves within
  // 128-bit blocks, then two rounds of 128-bit block shuffles.
  static HWY_INLINE void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4g + e], block L: rows 4g .. 4g+3 of column 4L + e.
    for (int g = 0; g < 16; g += 4) {
      u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
      u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
      u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
      u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
    }
    for (int e = 0; e < 4; ++e) {
      const __m512i v0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88);  // blocks 0, 2 of each
      const __m512i v1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xDD);  // blocks 1, 3
      const __m512i w0 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88);
      const __m512i w1 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xDD);
      r[e] = _mm512_shuffle_i32x4(v0, w0, 0x88);
      r[8 + e] = _mm512_shuffle_i32x4(v0, w0, 0xDD);
      r[4 + e] = _mm512_shuffle_i32x4(v1, w1, 0x88);
      r[12 + e] = _mm512_shuffle_i32x4(v1, w1, 0xDD);
    }
  }

  // Pairs kp0 .. kp0+16 of `rows` (<= 16) rows src + j * ld (depths 2 kp0 .. 2 kp0 + 32
  // of each), transposed: lane j of out[e] is row j's pair kp0 + e (rows past `rows` zero).
  static HWY_INLINE void pairs16_transposed(__m512i out[16], const float* HWY_RESTRICT src,
                                            int64_t ld, int64_t kp0, int64_t rows) {
    for (int64_t j = 0; j < 16; ++j)
      out[j] = j < rows ? bf16_pairs::adjacent_pairs(src + j * ld + 2 * kp0).raw
                        : _mm512_setzero_si512();
    transpose16(out);
  }

  // Rows i0 .. i0+mc of op(A), depth p0 .. p0+kc (see pack_a; zero past mc and kc).
  static void pack_a_block(T* HWY_RESTRICT ap, const GemmArgs& g, int64_t i0, int64_t mc, int64_t p0,
                           int64_t kc) {
    const int64_t kd = depth(kc);
    if (!g.trans_a) {
      // Each row's depths are contiguous: 16 pairs of each of the panel's rows at a time,
      // transposed into 16 panel rows of kRows words; the last pairs (fewer than 16) one by one.
      const int64_t vec_pairs = kc / 32 * 16;
      for (int64_t ir = 0; ir < mc; ir += kRows) {
        T* HWY_RESTRICT dst = ap + ir * kd;
        const int64_t rows = std::min(kRows, mc - ir);
        const float* HWY_RESTRICT src = g.a + (i0 + ir) * g.lda + p0;
        __m512i w[16];
        for (int64_t kp0 = 0; kp0 < vec_pairs; kp0 += 16) {
          pairs16_transposed(w, src, g.lda, kp0, rows);
          for (int64_t e = 0; e < 16; ++e)
            _mm512_mask_storeu_epi32(dst + (kp0 + e) * kRows, __mmask16{0x0fff}, w[e]);
        }
        for (int64_t kp = vec_pairs; kp < kd; ++kp)
          for (int64_t r = 0; r < kRows; ++r) {
            const float* row = src + r * g.lda;
            dst[kp * kRows + r] =
                r < rows ? pair(row[2 * kp], 2 * kp + 1 < kc ? row[2 * kp + 1] : 0.0f) : 0u;
          }
      }
      return;
    }
    // op(A) = A^T: stored rows p0 + 2kp and p0 + 2kp + 1 hold the pair of every output row,
    // side by side: all mc pairs in one vector pass, then kRows of them to each panel.
    HWY_ALIGN T pairs[kRows * 20];
    for (int64_t kp = 0; kp < kd; ++kp) {
      const float* HWY_RESTRICT lo = g.a + (p0 + 2 * kp) * g.lda + i0;
      const float* HWY_RESTRICT hi = 2 * kp + 1 < kc ? lo + g.lda : nullptr;
      for (int64_t r0 = 0; r0 < mc; r0 += kRows * 20) {  // mc <= kRows * 20 in gemm_packed
        const int64_t n = std::min(kRows * 20, mc - r0);
        pair_rows(pairs, lo + r0, hi ? hi + r0 : nullptr, n);
        for (int64_t ir = r0; ir < r0 + n; ir += kRows) {
          const int64_t rows = std::min(kRows, mc - ir);
          T* HWY_RESTRICT dst = ap + ir * kd + kp * kRows;
          std::memcpy(dst, pairs + (ir - r0), static_cast<size_t>(rows) * sizeof(T));
          for (int64_t r = rows; r < kRows; ++r) dst[r] = 0u;
        }
      }
    }
  }

  // One (pairs, kCols) micro-panel from B stored (N, K) with row stride ld: the first
  // `cols` rows, zero past them (and past kc: an odd last depth is paired with 0).
  static void pack_b_panel_pairs(T* HWY_RESTRICT panel, const float* HWY_RESTRICT src, int64_t ld,
                                 int64_t kc, int64_t cols) {
    const int64_t kd = depth(kc), vec_pairs = kc / 32 * 16;
    __m512i w[16];
    for (int64_t kp0 = 0; kp0 < vec_pairs; kp0 += 16)
      for (int64_t h = 0; h < kCols; h += 16) {  // columns h .. h+16 of the panel
        pairs16_transposed(w, src + h * ld, ld, kp0, std::max<int64_t>(0, std::min<int64_t>(16, cols - h)));
        for (int64_t e = 0; e < 16; ++e) _mm512_storeu_si512(panel + (kp0 + e) * kCols + h, w[e]);
      }
    for (int64_t kp = vec_pairs; kp < kd; ++kp)
      for (int64_t j = 0; j < kCols; ++j) {
        const float* row = src + j * ld;
        panel[kp * kCols + j] =
            j < cols ? pair(row[2 * kp], 2 * kp + 1 < kc ? row[2 * kp + 1] : 0.0f) : 0u;
      }
  }

  // Columns jc .. jc+nc of op(B), depth p0 .. p0+kc, the work share [part/parts] (see
  // pack_b_share: by pairs of depth rows for B stored (K, N), by panels for (N, K)).
  static void pack_b_block(T* HWY_RESTRICT bp, const GemmArgs& g, int64_t jc, int64_t nc,
                           int64_t p0, int64_t kc, int part, int parts) {
    const int64_t kd = depth(kc);
    const int64_t n_panels = (nc + kCols - 1) / kCols;
    if (!g.trans_b) {
      for (int64_t kp = kd * part / parts; kp < kd * (part + 1) / parts; ++kp) {
        const float* HWY_RESTRICT lo = g.b + (p0 + 2 * kp) * g.ldb + jc;
        const float* HWY_RESTRICT hi = 2 * kp + 1 < kc ? lo + g.ldb : nullptr;
        for (int64_t p = 0; p < n_panels; ++p) {
          T* HWY_RESTRICT dst = bp + p * kd * kCols + kp * kCols;
          const int64_t cols = std::min(kCols, nc - p * kCols);
          pair_rows(dst, lo + p * kCols, hi ? hi + p * kCols : nullptr, cols);
          for (int64_t j = cols; j < kCols; ++j) dst[j] = 0u;
        }
      }
      return;
    }
    for_each_nk_panel<kCols>(g, jc, nc, p0, kc, part, parts,
                             [&](int64_t p, const float* src, int64_t ld, int64_t cols) {
                               pack_b_panel_pairs(bp + p * kd * kCols, src, ld, kc, cols);
                             });
  }

  // C tile (kRows, kCols) = (load_c ? C : 0) + the pairs' products (see micro_tile). Raw
  // intrinsics only: the function's own target adds AVX512_BF16 to the AVX-512 target,
  // and with clang that attribute replaces Highway's, so no Highway op may be inlined here.
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))) static void
  dp_tile(int64_t kd, const T* HWY_RESTRICT ap, const T* HWY_RESTRICT bp, float* HWY_RESTRICT c,
          int64_t ldc, bool load_c) {
#pragma GCC unroll 12
    for (int64_t r = 0; r < kRows; ++r) {
      __builtin_prefetch(c + r * ldc);
      __builtin_prefetch(c + r * ldc + kCols - 1);
    }
    __m512 acc0[kRows], acc1[kRows];
#pragma GCC unroll 12
    for (int64_t r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int64_t kp = 0; kp < kd; ++kp) {
      const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp));
      const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + 16));
#pragma GCC unroll 12
      for (int64_t r = 0; r < kRows; ++r) {
        const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(ap[r])));
        acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
        acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
      }
      ap += kRows;
      bp += kCols;
    }
#pragma GCC unroll 12
    for (int64_t r = 0; r < kRows; ++r) {
      if (load_c) {
        acc0[r] = _mm512_add_ps(acc0[r], _mm512_loadu_ps(c + r * ldc));
        acc1[r] = _mm512_add_ps(acc1[r], _mm512_loadu_ps(c + r * ldc + 16));
      }
      _mm512_storeu_ps(c + r * ldc, acc0[r]);
      _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
    }
  }

  static void run_tile(int64_t kc, const T* ap, const T* bp, float* c, int64_t ldc, int64_t rows,
                       int64_t cols, bool load_c) {
    const int64_t kd = depth(kc);
    tile_into_c<kRows, kCols>(c, ldc, rows, cols, load_c,
                              [&](float* dst, int64_t ld) { dp_tile(kd, ap, bp, dst, ld, load_c); });
  }
};
#endif  // AVX-512 targets

}  // namespace
}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
