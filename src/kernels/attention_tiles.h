// Internal to the attention kernels: the register-blocked tile products and
// the vector exp2 that the tiled forward and backward are built from.
// Highway with static dispatch (the target the file is compiled for; AVX2+FMA
// with -march=native on the build machine, 8 float lanes).
//
// Every product has the one form
//   C[r][c] (= or +=) sum_s A(r, s) * B[s][c]     (r < rows, c < cols, s < steps)
// with A read through two strides (a_rs between rows r, a_ss between steps s),
// so the same kernel computes Q K^T (A = Q rows, B = K^T), P V (A = P rows,
// B = V rows) and P^T dO (A = P read down its columns, B = dO rows).
// B and C rows are contiguous with cols a multiple of the lane count.
// Also the pieces both kernels share around the products: the log2-unit
// constants, segment ranges and the causal/segment mask of a score row.
#pragma once
#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace longctx::kernels::attention_detail {

namespace hn = hwy::HWY_NAMESPACE;
using Df = hn::ScalableTag<float>;
using Vf = hn::Vec<Df>;

// Keys per tile (Bc). Multiple of every lane count (4, 8 or 16).
constexpr int64_t kKeyTile = 128;
// Query rows per tile: positions x the query heads of one kv group (Br).
constexpr int64_t kQueryRowsTarget = 128;

// Scores are kept in log2 units (q pre-scaled by scale*log2(e)) so the
// exponentials are exp2; ln2 converts back.
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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

// All rows of one column strip of C (C*lanes columns wide): blocks of 6 rows
// (12 accumulators + 2 B vectors + 1 broadcast = 15 of AVX2's 16 registers),
// then the 1..5 leftover rows.
template <int C>
HWY_INLINE void product_strip(float* c, int64_t ldc, int64_t rows, const float* a, int64_t a_rs,
                              int64_t a_ss, const float* b, int64_t ldb, int64_t steps,
                              bool accumulate) {
  constexpr int kRows = 6;
  int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    product_block<kRows, C>(c + r * ldc, ldc, a + r * a_rs, a_rs, a_ss, b, ldb, steps, accumulate);
  float* cr = c + r * ldc;
  const float* ar = a + r * a_rs;
  switch (rows - r) {
    case 5: product_block<5, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 4: product_block<4, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 3: product_block<3, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 2: product_block<2, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    case 1: product_block<1, C>(cr, ldc, ar, a_rs, a_ss, b, ldb, steps, accumulate); break;
    default: break;
  }
}

// C (rows, cols; row stride ldc) = or += A * B as described at the top.
// cols must be a multiple of lanes().
inline void tile_product(float* c, int64_t ldc, int64_t rows, int64_t cols, const float* a,
                         int64_t a_rs, int64_t a_ss, const float* b, int64_t ldb, int64_t steps,
                         bool accumulate) {
  const int64_t N = lanes();
  int64_t col = 0;
  for (; col + 2 * N <= cols; col += 2 * N)
    product_strip<2>(c + col, ldc, rows, a, a_rs, a_ss, b + col, ldb, steps, accumulate);
  if (col < cols) product_strip<1>(c + col, ldc, rows, a, a_rs, a_ss, b + col, ldb, steps, accumulate);
}

// min/max of seg[first..last] (inclusive).
inline void segment_range(const int32_t* seg, int64_t first, int64_t last, int32_t& lo,
                          int32_t& hi) {
  lo = hi = seg[first];
  for (int64_t i = first + 1; i <= last; ++i) {
    lo = std::min(lo, seg[i]);
    hi = std::max(hi, seg[i]);
  }
}

// Sets to -inf the scores row (cols) of the query at absolute position pos against
// keys k0 .. k0+cols, of which the first nk exist: keys after pos (causal), the
// padding past nk, and with seg (T_kv segment ids, or null) keys of another segment.
inline void mask_score_row(float* row, int64_t cols, int64_t k0, int64_t nk, int64_t pos,
                           const int32_t* seg) {
  const int64_t visible = std::min(nk, pos - k0 + 1);  // causal limit within the tile
  for (int64_t j = 0; j < cols; ++j)
    if (j >= visible || (seg && seg[k0 + j] != seg[pos])) row[j] = kNegInf;
}

// 2^x lane-wise for x <= ~0 (softmax arguments); x < -126 (and -inf) gives 0.
// Range reduction x = n + f, |f| <= 1/2, then 2^f = e^(f ln2) by its degree-7
// Taylor polynomial (relative error < 1e-8 before rounding, i.e. float-exact
// up to ~1 ulp), scaled by 2^n built in the exponent field.
HWY_INLINE Vf exp2_nonpositive(Df d, Vf x) {
  const hn::RebindToSigned<Df> di;
  const Vf lower = hn::Set(d, -126.0f);
  const Vf xc = hn::Max(x, lower);
  const auto n = hn::NearestInt(xc);
  const Vf f = hn::Sub(xc, hn::ConvertTo(d, n));
  const Vf t = hn::Mul(f, hn::Set(d, 0.693147180559945309f));  // f ln2, |t| <= 0.347
  Vf p = hn::Set(d, 1.0f / 5040.0f);
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f / 720.0f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f / 120.0f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f / 24.0f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f / 6.0f));
  p = hn::MulAdd(p, t, hn::Set(d, 0.5f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f));
  p = hn::MulAdd(p, t, hn::Set(d, 1.0f));
  const Vf scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n, hn::Set(di, 127))));
  return hn::IfThenElseZero(hn::Ge(x, lower), hn::Mul(p, scale));
}

}  // namespace longctx::kernels::attention_detail
