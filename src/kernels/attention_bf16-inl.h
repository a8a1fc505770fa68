// Internal to the attention kernels: the tile products with bf16 inputs and fp32
// accumulation (AttentionShape::bf16_products), and the packers of their operands.
// Compiled once per Highway target (per-target include guard, Highway's -inl.h pattern),
// included by attention_forward-inl.h and attention_backward-inl.h after
// attention_tiles-inl.h.
//
// The products have the form of tile_product_packed (attention_tiles-inl.h),
//   C[r][c] (= or +=) sum_s A(r, s) * B[s][c],
// with the steps s taken in pairs: every operand word holds the bf16 values of two
// adjacent steps (bf16_pairs-inl.h), A read through strides in words (a_rs between rows,
// a_ss between step pairs), B packed in the same column strips as the fp32 tiles, one word
// per (step pair, column). Pairs run along the head dimension for Q K^T and dO V^T (a row
// of q is its own pairs), along keys for P V and dS K, and along query rows for P^T dO and
// dS^T Q. On an AVX-512 target of a CPU with AVX512_BF16 a pair step is one vdpbf16ps per
// 16 lanes; elsewhere (and when set_gemm_bf16_instruction(false) turns it off) the same
// rounded operands are widened and multiplied with two fp32 FMAs, so the results differ
// from the instruction's only in the order and rounding of the fp32 sums.
#if defined(LONGCTX_KERNELS_ATTENTION_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_ATTENTION_BF16_INL_H_
#undef LONGCTX_KERNELS_ATTENTION_BF16_INL_H_
#else
#define LONGCTX_KERNELS_ATTENTION_BF16_INL_H_
#endif

#include <hwy/highway.h>
#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/attention_tiles-inl.h"
#include "kernels/attention_tiles.h"
#include "kernels/bf16_pairs-inl.h"
#include "kernels/gemm.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::attention_simd {

// Whether this target multiplies bf16 pairs with vdpbf16ps when the CPU allows it.
constexpr bool kBf16Instruction = HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3;

// Whether bf16 products run on vdpbf16ps here: this target can, the CPU has AVX512_BF16 and
// set_gemm_bf16_instruction has not turned it off.
inline bool bf16_instruction_here() {
  return kBf16Instruction && gemm_bf16_instruction();
}

// Words of step pairs for n steps.
inline int64_t pairs_of(int64_t n) {
  return (n + 1) / 2;
}

// The portable product: one R x (C*lanes) block of C, the pair words widened to fp32.
template <int R, int C>
HWY_INLINE void pair_block_fma(float* HWY_RESTRICT c, int64_t ldc, const uint32_t* HWY_RESTRICT a,
                               int64_t a_rs, int64_t a_ss, const uint32_t* HWY_RESTRICT b,
                               int64_t ldb, int64_t steps, bool accumulate) {
  const Df d;
  const hn::RebindToUnsigned<Df> du;
  const int64_t N = lanes();
  const auto high = hn::Set(du, 0xffff0000u);
  Vf acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j)
      acc[r][j] = accumulate ? hn::LoadU(d, c + r * ldc + j * N) : hn::Zero(d);
  }
  for (int64_t s = 0; s < steps; ++s) {
    Vf blo[C], bhi[C];
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j) {
      const auto w = hn::LoadU(du, b + s * ldb + j * N);
      blo[j] = hn::BitCast(d, hn::ShiftLeft<16>(w));
      bhi[j] = hn::BitCast(d, hn::And(w, high));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint32_t w = a[r * a_rs + s * a_ss];
      const Vf alo = hn::BitCast(d, hn::Set(du, w << 16));
      const Vf ahi = hn::BitCast(d, hn::Set(du, w & 0xffff0000u));
#pragma GCC unroll 4
      for (int j = 0; j < C; ++j)
        acc[r][j] = hn::MulAdd(ahi, bhi[j], hn::MulAdd(alo, blo[j], acc[r][j]));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j) hn::StoreU(acc[r][j], d, c + r * ldc + j * N);
  }
}

struct PairBlockFma {
  template <int R, int C>
  static HWY_INLINE void run(float* c, int64_t ldc, const uint32_t* a, int64_t a_rs, int64_t a_ss,
                             const uint32_t* b, int64_t ldb, int64_t steps, bool accumulate) {
    pair_block_fma<R, C>(c, ldc, a, a_rs, a_ss, b, ldb, steps, accumulate);
  }
};

template <int C>
HWY_INLINE void pair_strip_fma(float* c, int64_t ldc, int64_t rows, const uint32_t* a, int64_t a_rs,
                               int64_t a_ss, const uint32_t* b, int64_t ldb, int64_t steps,
                               bool accumulate) {
  // 4 rows: 8 accumulators + 4 B vectors + 2 broadcasts, AVX2's 16 registers.
  row_blocks<PairBlockFma, 4, C>(rows, c, ldc, a, a_rs, a_ss, b, ldb, steps, accumulate);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// The same block with vdpbf16ps (16 lanes). Raw intrinsics only: the function's own target
// adds AVX512_BF16 to the AVX-512 target, and with clang that attribute replaces Highway's,
// so no Highway op may be inlined here (as gemm_bf16-inl.h's dp_tile).
#define LONGCTX_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
template <int R, int C>
LONGCTX_BF16_TARGET inline void pair_block_dp(float* HWY_RESTRICT c, int64_t ldc,
                                              const uint32_t* HWY_RESTRICT a, int64_t a_rs,
                                              int64_t a_ss, const uint32_t* HWY_RESTRICT b,
                                              int64_t ldb, int64_t steps, bool accumulate) {
  __m512 acc[R][C];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int j = 0; j < C; ++j)
      acc[r][j] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * j) : _mm512_setzero_ps();
  }
  for (int64_t s = 0; s < steps; ++s) {
    __m512bh bv[C];
#pragma GCC unroll 2
    for (int j = 0; j < C; ++j)
      bv[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + s * ldb + 16 * j));
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512bh av =
          reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r * a_rs + s * a_ss])));
#pragma GCC unroll 2
      for (int j = 0; j < C; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], av, bv[j]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int j = 0; j < C; ++j) _mm512_storeu_ps(c + r * ldc + 16 * j, acc[r][j]);
  }
}

// Rows in blocks of 8 (16 accumulators; 128-row blocks are 16 of them), then the 1..7 left.
// Not through row_blocks: with clang this function's target attribute replaces Highway's, so
// a Highway-target always-inline helper cannot be inlined here.
template <int C>
LONGCTX_BF16_TARGET HWY_NOINLINE void pair_strip_dp(float* c, int64_t ldc, int64_t rows,
                                                    const uint32_t* a, int64_t a_rs, int64_t a_ss,
                                                    const uint32_t* b, int64_t ldb, int64_t steps,
                                                    bool accumulate) {
  constexpr int kRows = 8;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    pair_block_dp<kRows, C>(c + r * ldc, ldc, a + r * a_rs, a_rs, a_ss, b, ldb, steps, accumulate);
  float* cr = c + r * ldc;
  const uint32_t* ar = a + r * a_rs;
  switch (rows - r) {  // clang-format off
    case 7: pair_block_dp<7, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 6: pair_block_dp<6, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 5: pair_block_dp<5, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 4: pair_block_dp<4, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 3: pair_block_dp<3, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 2: pair_block_dp<2, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 1: pair_block_dp<1, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    default: break;
  }  // clang-format on
}
#undef LONGCTX_BF16_TARGET
#endif  // AVX-512 targets

// C (rows, cols; row stride ldc) = or += A * B from step-pair words: B packed as
// (b_steps pairs, b_cols) in column strips, the product using pairs step0 .. step0 + steps
// and the first `cols` columns (a multiple of the lane count); `dp`: with vdpbf16ps
// (only where kBf16Instruction and the CPU has it).
inline void pair_tile_product(float* c, int64_t ldc, int64_t rows, int64_t cols, const uint32_t* a,
                              int64_t a_rs, int64_t a_ss, const uint32_t* b, int64_t b_steps,
                              int64_t b_cols, int64_t step0, int64_t steps, bool accumulate,
                              bool dp) {
  const int64_t N = lanes();
  for (int64_t col = 0; col < cols; col += 2 * N) {
    const int64_t w = strip_width(col, b_cols);
    const uint32_t* bs = b + col * b_steps + step0 * w;
    const bool two = col + 2 * N <= cols;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    if (dp) {
      if (two)
        pair_strip_dp<2>(c + col, ldc, rows, a, a_rs, a_ss, bs, w, steps, accumulate);
      else
        pair_strip_dp<1>(c + col, ldc, rows, a, a_rs, a_ss, bs, w, steps, accumulate);
      continue;
    }
#else
    (void)dp;
#endif
    if (two)
      pair_strip_fma<2>(c + col, ldc, rows, a, a_rs, a_ss, bs, w, steps, accumulate);
    else
      pair_strip_fma<1>(c + col, ldc, rows, a, a_rs, a_ss, bs, w, steps, accumulate);
  }
}

// Source rows (a packer's Rows, attention_tiles-inl.h) as the pairs of their D elements,
// transposed into (pairs_of(D), Bc) strips: K^T and V^T for Q K^T and dO V^T. Rows from nk
// on are zero.
template <class Rows>
inline void pack_transposed_pair_strips(uint32_t* HWY_RESTRICT dst, const Rows& src, int64_t nk,
                                        int64_t D, float* tmp, uint32_t* HWY_RESTRICT pairs) {
  const int64_t W = 2 * lanes(), D2 = pairs_of(D);
  for (int64_t j = 0; j < std::min(kPackAhead, nk); ++j) src.prefetch(j);
  for (int64_t j = 0; j < attention_detail::kKeyTile; ++j) {
    uint32_t* HWY_RESTRICT out = dst + j / W * W * D2 + j % W;
    if (j < nk) {
      if (j + kPackAhead < nk) src.prefetch(j + kPackAhead);
      bf16_pairs::pair_adjacent(pairs, src.row(j, tmp), D);
      for (int64_t x = 0; x < D2; ++x) out[x * W] = pairs[x];
    } else {
      for (int64_t x = 0; x < D2; ++x) out[x * W] = 0u;
    }
  }
}

// Word row i of (n2, Dp) pair strips: the pairs of rows lo and hi (D floats each; null is a
// row of zeros), zero from column D on.
inline void pair_strip_row(uint32_t* HWY_RESTRICT dst, int64_t i, int64_t n2, const float* lo,
                           const float* hi, int64_t D, int64_t Dp) {
  for (int64_t x = 0; x < Dp; x += 2 * lanes()) {
    const int64_t w = strip_width(x, Dp), copy = std::max<int64_t>(0, std::min(w, D - x));
    uint32_t* HWY_RESTRICT out = dst + strip_offset(i, x, Dp, n2);
    bf16_pairs::pair_rows(out, lo ? lo + x : nullptr, hi ? hi + x : nullptr, copy);
    for (int64_t e = copy; e < w; ++e) out[e] = 0u;
  }
}

// Source rows 0 .. n_steps (rows from n_valid on zero, columns D .. Dp zero) paired along the
// rows, rows 2i and 2i+1 in word i, as (pairs_of(n_steps), Dp) strips: V and K for P V and
// dS K.
template <class Rows>
inline void pack_pair_row_strips(uint32_t* HWY_RESTRICT dst, const Rows& src, int64_t n_valid,
                                 int64_t n_steps, int64_t D, int64_t Dp, float* tmp_lo,
                                 float* tmp_hi) {
  for (int64_t j = 0; j < std::min(kPackAhead, n_valid); ++j) src.prefetch(j);
  const int64_t n2 = pairs_of(n_steps);
  for (int64_t i = 0; i < n2; ++i) {
    for (int64_t j = 2 * i + kPackAhead; j < std::min(2 * i + kPackAhead + 2, n_valid); ++j)
      src.prefetch(j);
    pair_strip_row(dst, i, n2, 2 * i < n_valid ? src.row(2 * i, tmp_lo) : nullptr,
                   2 * i + 1 < n_valid ? src.row(2 * i + 1, tmp_hi) : nullptr, D, Dp);
  }
}

// Rows of a (rows, cols) fp32 tile (row stride ld) paired along the rows for a product
// whose steps are the tile's rows, where the tile's row 0 is global row r0 and pairs are
// of global rows (2i, 2i+1): word (i - r0 / 2, c) of out (row stride ld_out) pairs tile
// rows 2i - r0 and 2i + 1 - r0, those outside the tile zero. Returns the number of pairs.
inline int64_t pair_tile_rows(uint32_t* HWY_RESTRICT out, int64_t ld_out, const float* tile,
                              int64_t ld, int64_t rows, int64_t cols, int64_t r0) {
  const int64_t first = r0 / 2, n2 = pairs_of(r0 + rows) - first;
  for (int64_t i = 0; i < n2; ++i) {
    const int64_t lo = 2 * (first + i) - r0, hi = lo + 1;
    bf16_pairs::pair_rows(out + i * ld_out, lo >= 0 ? tile + lo * ld : nullptr,
                          hi < rows ? tile + hi * ld : nullptr, cols);
  }
  return n2;
}

}  // namespace longctx::kernels::HWY_NAMESPACE::attention_simd
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
