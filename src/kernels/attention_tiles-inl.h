// Internal to the attention kernels: the register-blocked tile products and
// the vector exp2 that the tiled forward and backward are built from, compiled
// once per Highway target (per-target include guard, Highway's -inl.h pattern):
// attention_forward-inl.h and attention_backward-inl.h include this, and the
// kernel files include those after <hwy/foreach_target.h> and dispatch to the
// best target at run time. The lane count (4 to 16 floats; 1 for the scalar
// target) is the target's.
//
// Every product has the one form
//   C[r][c] (= or +=) sum_s A(r, s) * B[s][c]     (r < rows, c < cols, s < steps)
// with A read through two strides (a_rs between rows r, a_ss between steps s),
// so the same kernel computes Q K^T (A = Q rows, B = K^T), P V (A = P rows,
// B = V rows) and P^T dO (A = P read down its columns, B = dO rows).
// B is packed in column strips (tile_product_packed, with the packers for it);
// C rows are contiguous with cols a multiple of the lane count.
#if defined(LONGCTX_KERNELS_ATTENTION_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_ATTENTION_TILES_INL_H_
#undef LONGCTX_KERNELS_ATTENTION_TILES_INL_H_
#else
#define LONGCTX_KERNELS_ATTENTION_TILES_INL_H_
#endif

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>

#include "kernels/attention_tiles.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::attention_simd {

namespace hn = hwy::HWY_NAMESPACE;
using Df = hn::ScalableTag<float>;
using Vf = hn::Vec<Df>;

inline int64_t lanes() { return static_cast<int64_t>(hn::Lanes(Df())); }
inline int64_t round_up_lanes(int64_t n) {
  const int64_t L = lanes();
  return (n + L - 1) / L * L;
}

// One R x (C*lanes) block of C, held in registers for the whole step loop.
template <int R, int C>
HWY_INLINE void product_block(float* HWY_RESTRICT c, int64_t ldc, const float* HWY_RESTRICT a,
                              int64_t a_rs, int64_t a_ss, const float* HWY_RESTRICT b,
                              int64_t ldb, int64_t steps, bool accumulate) {
  const Df d;
  const int64_t N = lanes();
  Vf acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j) acc[r][j] = accumulate ? hn::LoadU(d, c + r * ldc + j * N) : hn::Zero(d);
  }
  for (int64_t s = 0; s < steps; ++s) {
    const float* HWY_RESTRICT bs = b + s * ldb;
    Vf bv[C];
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j) bv[j] = hn::LoadU(d, bs + j * N);
    const float* HWY_RESTRICT as = a + s * a_ss;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vf av = hn::Set(d, as[r * a_rs]);
#pragma GCC unroll 4
      for (int j = 0; j < C; ++j) acc[r][j] = hn::MulAdd(av, bv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int j = 0; j < C; ++j) hn::StoreU(acc[r][j], d, c + r * ldc + j * N);
  }
}

// The rows of one column strip of C in register blocks of kRows rows, then one block of the
// 1 .. kRows-1 rows left: Block::template run<R, C>(c, ldc, a, a_rs, args...) for each block
// of R rows, c and a advanced to its first row. Block is a product kernel's register block
// (product_block here, the bf16 pair blocks of attention_bf16-inl.h).
template <class Block, int C, int R, class T, class... Args>
HWY_INLINE void row_tail(int64_t left, float* c, int64_t ldc, const T* a, int64_t a_rs,
                         Args... args) {
  if constexpr (R >= 1) {
    if (left == R) return Block::template run<R, C>(c, ldc, a, a_rs, args...);
    row_tail<Block, C, R - 1>(left, c, ldc, a, a_rs, args...);
  }
}

template <class Block, int kRows, int C, class T, class... Args>
HWY_INLINE void row_blocks(int64_t rows, float* c, int64_t ldc, const T* a, int64_t a_rs,
                           Args... args) {
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    Block::template run<kRows, C>(c + r * ldc, ldc, a + r * a_rs, a_rs, args...);
  row_tail<Block, C, kRows - 1>(rows - r, c + r * ldc, ldc, a + r * a_rs, a_rs, args...);
}

struct FloatBlock {
  template <int R, int C>
  static HWY_INLINE void run(float* c, int64_t ldc, const float* a, int64_t a_rs, int64_t a_ss,
                             const float* b, int64_t ldb, int64_t steps, bool accumulate) {
    product_block<R, C>(c, ldc, a, a_rs, a_ss, b, ldb, steps, accumulate);
  }
};

// All rows of one column strip of C (C*lanes columns wide): blocks of 6 rows
// (12 accumulators + 2 B vectors + 1 broadcast = 15 of AVX2's 16 registers;
// AVX-512 has 32, but wider vectors already fill the 128-key tile in 4 strips),
// then the 1..5 leftover rows.
template <int C>
HWY_INLINE void product_strip(float* c, int64_t ldc, int64_t rows, const float* a, int64_t a_rs,
                              int64_t a_ss, const float* b, int64_t ldb, int64_t steps,
                              bool accumulate) {
  row_blocks<FloatBlock, 6, C>(rows, c, ldc, a, a_rs, a_ss, b, ldb, steps, accumulate);
}

// B packed in column strips: the strip of columns
// [col, col + w), w = strip_width(col, cols), is the contiguous (b_steps, w) block at
// b + col * b_steps, so a product reads it front to back. With rows of B stored whole
// (row stride a power of two, 256 or 512 bytes for the tiles here), one strip's 64-128
// rows fall into a few L1 sets and evict each other; contiguous strips do not
// (attention forward at 32k keys: 10-15% faster products, bench/README.md).
inline int64_t strip_width(int64_t col, int64_t cols) { return std::min(2 * lanes(), cols - col); }
// Offset of element (step s, column col) in strips of (b_steps, cols).
inline int64_t strip_offset(int64_t s, int64_t col, int64_t cols, int64_t b_steps) {
  const int64_t w2 = 2 * lanes();
  const int64_t col0 = col / w2 * w2;
  return col0 * b_steps + s * strip_width(col0, cols) + (col - col0);
}

// C (rows, cols; row stride ldc) = or += A * B as described at the top, with B packed as
// (b_steps, b_cols) in column strips; the product uses steps step0 .. step0 + steps and
// the first `cols` columns (cols <= b_cols, a multiple of the lane count).
inline void tile_product_packed(float* c, int64_t ldc, int64_t rows, int64_t cols, const float* a,
                                int64_t a_rs, int64_t a_ss, const float* b, int64_t b_steps,
                                int64_t b_cols, int64_t step0, int64_t steps, bool accumulate) {
  const int64_t N = lanes();
  int64_t col = 0;
  for (; col + 2 * N <= cols; col += 2 * N) {
    const int64_t w = strip_width(col, b_cols);
    product_strip<2>(c + col, ldc, rows, a, a_rs, a_ss, b + col * b_steps + step0 * w, w, steps,
                     accumulate);
  }
  if (col < cols) {
    const int64_t w = strip_width(col, b_cols);
    product_strip<1>(c + col, ldc, rows, a, a_rs, a_ss, b + col * b_steps + step0 * w, w, steps,
                     accumulate);
  }
}

// The packers below read rows that sit far apart (the other kv heads, or the other
// heads of a position, in between), which the hardware prefetcher does not follow: each
// fetches the row kPackAhead rows ahead while it copies one (at 32k keys the sources
// come from memory, and without this the forward's packing was 8% of its time, stalled
// on its loads).
constexpr int64_t kPackAhead = 8;
HWY_INLINE void prefetch_bytes(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t o = 0; o < bytes; o += 64) hwy::Prefetch(c + o);
}

// A packer's source: rows of D floats, row j at p + j * stride.
struct FloatRows {
  const float* p;
  int64_t stride;
  int64_t D;
  const float* row(int64_t j, float* /*tmp*/) const { return p + j * stride; }
  void prefetch(int64_t j) const {
    prefetch_bytes(p + j * stride, D * static_cast<int64_t>(sizeof(float)));
  }
};

// Source rows (Rows: FloatRows or another type with row(j, tmp) returning D floats,
// possibly converted into tmp, and prefetch(j)) transposed into (D, Bc) strips: K^T for
// the score products. Rows from nk on are zero. Bc is a multiple of the strip width, so
// every strip is 2 * lanes() keys wide.
template <class Rows>
inline void pack_transposed_strips(float* HWY_RESTRICT dst, const Rows& src, int64_t nk, int64_t D,
                                   float* tmp) {
  const int64_t W = 2 * lanes();
  for (int64_t j = 0; j < std::min(kPackAhead, nk); ++j) src.prefetch(j);
  for (int64_t j = 0; j < attention_detail::kKeyTile; ++j) {
    float* HWY_RESTRICT out = dst + j / W * W * D + j % W;
    if (j < nk) {
      if (j + kPackAhead < nk) src.prefetch(j + kPackAhead);
      const float* HWY_RESTRICT row = src.row(j, tmp);
      for (int64_t x = 0; x < D; ++x) out[x * W] = row[x];
    } else {
      for (int64_t x = 0; x < D; ++x) out[x * W] = 0.0f;
    }
  }
}

// Source rows 0 .. n_steps (rows from n_valid on zero, columns D .. Dp zero) as
// (n_steps, Dp) strips.
template <class Rows>
inline void pack_row_strips(float* HWY_RESTRICT dst, const Rows& src, int64_t n_valid,
                            int64_t n_steps, int64_t D, int64_t Dp, float* tmp) {
  for (int64_t j = 0; j < std::min(kPackAhead, n_valid); ++j) src.prefetch(j);
  const int64_t W = 2 * lanes();
  for (int64_t j = 0; j < n_steps; ++j) {
    if (j + kPackAhead < n_valid) src.prefetch(j + kPackAhead);
    const float* HWY_RESTRICT row = j < n_valid ? src.row(j, tmp) : nullptr;
    for (int64_t x = 0; x < Dp; x += W) {
      const int64_t w = strip_width(x, Dp), copy = row ? std::max<int64_t>(0, std::min(w, D - x)) : 0;
      float* HWY_RESTRICT out = dst + strip_offset(j, x, Dp, n_steps);
      for (int64_t e = 0; e < copy; ++e) out[e] = row[x + e];
      for (int64_t e = copy; e < w; ++e) out[e] = 0.0f;
    }
  }
}

// 2^x lane-wise for x <= ~0 (softmax arguments); x < -126 (and -inf) gives 0.
// x = n + f with n = round(x) (by adding and subtracting 1.5 * 2^23, which leaves n in
// the low bits of the sum), |f| <= 1/2; 2^f by a degree-6 polynomial interpolating it at
// the Chebyshev nodes of [-1/2, 1/2] (relative error 2.5e-9 before rounding, so the
// result is float-exact up to the ~1 ulp of the evaluation); 2^n enters as an integer
// add to the exponent field. 14 vector operations, 6 of them FMAs.
HWY_INLINE Vf exp2_nonpositive(Df d, Vf x) {
  const hn::RebindToSigned<Df> di;
  const Vf lower = hn::Set(d, -126.0f);
  const Vf magic = hn::Set(d, 12582912.0f);  // 1.5 * 2^23
  const Vf xc = hn::Max(x, lower);
  const Vf r = hn::Add(xc, magic);           // n in the low mantissa bits
  const Vf f = hn::Sub(xc, hn::Sub(r, magic));
  Vf p = hn::Set(d, 0.000154614449f);
  p = hn::MulAdd(p, f, hn::Set(d, 0.0013400428f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.00961805694f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.0555032715f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.240226507f));
  p = hn::MulAdd(p, f, hn::Set(d, 0.693147182f));
  p = hn::MulAdd(p, f, hn::Set(d, 1.0f));
  // p in [0.70, 1.42]: adding n << 23 (n >= -126) to its bits multiplies it by 2^n; the
  // sum's high bits shifted out are those of the magic number.
  const auto bits = hn::Add(hn::BitCast(di, p), hn::ShiftLeft<23>(hn::BitCast(di, r)));
  return hn::IfThenElseZero(hn::Ge(x, lower), hn::BitCast(d, bits));
}

}  // namespace longctx::kernels::HWY_NAMESPACE::attention_simd
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
