// Typed-weight matrix products: SIMD matrix-vector tiles per Highway target (dispatched
// at run time) for few rows of x, the matrix-product engine (kernels/matmul.h: the own
// GEMM unless LONGCTX_MATMUL=blas; it converts bf16 and Q8_0 rows while packing them, the
// BLAS path after a conversion panel by panel) for many.
#include "kernels/typed_matmul.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/matmul.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/typed_matmul.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

HWY_INLINE void write_out(float* o, float v, bool accumulate) {
  if (accumulate)
    *o += v;
  else
    *o = v;
}

// f32 / bf16 rows: element k of row r.
HWY_INLINE float scalar_at(StorageType t, const uint8_t* row, int64_t k) {
  if (t == StorageType::kF32) return reinterpret_cast<const float*>(row)[k];
  const uint32_t bits = static_cast<uint32_t>(row[2 * k] | (row[2 * k + 1] << 8)) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Prefetch of the weight rows read next (`ahead`, or null): ahead_step bytes per step of
// the tile's loop, so their memory latency overlaps this tile's work (see row_block).
HWY_INLINE void prefetch_ahead(const uint8_t* ahead, int64_t step, int64_t ahead_step) {
  if (ahead == nullptr) return;
  const uint8_t* p = ahead + step * ahead_step;
  for (int64_t o = 0; o < ahead_step; o += 64) hwy::Prefetch(p + o);
}

// RW weight rows x NX rows of x for f32/bf16 storage: out[j*ldo + r] = dot(w_r, x_j).
template <int RW, int NX, StorageType kType>
HWY_INLINE void tile_dense(float* out, int64_t ldo, const float* x, int64_t K,
                           const uint8_t* const* rows, bool accumulate, const uint8_t* ahead,
                           int64_t ahead_step) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  VF acc[RW][NX];
  for (int r = 0; r < RW; ++r)
    for (int j = 0; j < NX; ++j) acc[r][j] = hn::Zero(df);
  int64_t k = 0;
  for (; k + L <= K; k += L) {
    prefetch_ahead(ahead, k / L, ahead_step);
    VF xv[NX];
    for (int j = 0; j < NX; ++j) xv[j] = hn::LoadU(df, x + j * K + k);
    for (int r = 0; r < RW; ++r) {
      const VF wv = kType == StorageType::kF32
                        ? hn::LoadU(df, reinterpret_cast<const float*>(rows[r]) + k)
                        : store::load_bf16(df, rows[r] + 2 * k);
      for (int j = 0; j < NX; ++j) acc[r][j] = hn::MulAdd(wv, xv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RW; ++r)
    for (int j = 0; j < NX; ++j) {
      float s = hn::GetLane(hn::SumOfLanes(df, acc[r][j]));
      for (int64_t t = k; t < K; ++t) s += scalar_at(kType, rows[r], t) * x[j * K + t];
      write_out(out + j * ldo + r, s, accumulate);
    }
}

// Q8_0 rows against activations quantised the same way (Q8Activations): per 32-value block
// an integer dot product of the int8 weights and int8 activations, summed in int32 (|sum| <=
// 32 x 128 x 127, far from overflow), then scaled by both blocks' scales into a float
// accumulator. About half the instructions per weight of widening every weight to float,
// which is what decides Q8_0 decode speed. AVX2: the block is one 256-bit load per side,
// multiplied with vpmaddubsw on |w| and x * sign(w) (exact: pair sums stay within int16),
// as llama.cpp's q8_0 dot does; other targets widen both sides to int16 (vpmaddwd).
template <int RW, int NX>
HWY_INLINE void tile_q8_q8(float* out, int64_t ldo, const Q8Activations& xa, const uint8_t* const* rows,
                           bool accumulate, const uint8_t* ahead, int64_t ahead_step) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Repartition<float, decltype(d16)> df;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d16)), K = xa.K, nb = K / kQ8_0Block;
  (void)L;
  hn::Vec<decltype(df)> acc[RW][NX];
  for (int r = 0; r < RW; ++r)
    for (int j = 0; j < NX; ++j) acc[r][j] = hn::Zero(df);
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_ahead(ahead, b, ahead_step);
    for (int r = 0; r < RW; ++r) {
      const uint8_t* block = rows[r] + b * kQ8_0BlockBytes;
      const float dw = store::half_to_float(block);
      const auto* q = reinterpret_cast<const int8_t*>(block + 2);
#if HWY_TARGET == HWY_AVX2
      const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
      const __m256i abs_w = _mm256_sign_epi8(qw, qw);  // -128 stays 0x80 = 128 unsigned: still exact
#endif
      for (int j = 0; j < NX; ++j) {
        const int8_t* xq = xa.q + j * K + b * kQ8_0Block;
#if HWY_TARGET == HWY_AVX2
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
        const __m256i pairs = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(qx, qw));
        const auto s0 = hn::Vec256<int32_t>{_mm256_madd_epi16(pairs, _mm256_set1_epi16(1))};
#else
        auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
        for (int64_t i = 0; i < kQ8_0Block; i += L)
          s0 = hn::ReorderWidenMulAccumulate(d32, hn::PromoteTo(d16, hn::LoadU(d8, q + i)),
                                             hn::PromoteTo(d16, hn::LoadU(d8, xq + i)), s0, s1);
        s0 = hn::RearrangeToOddPlusEven(s0, s1);
#endif
        acc[r][j] = hn::MulAdd(hn::ConvertTo(df, s0), hn::Set(df, dw * xa.d[j * nb + b]), acc[r][j]);
      }
    }
  }
  for (int r = 0; r < RW; ++r)
    for (int j = 0; j < NX; ++j) write_out(out + j * ldo + r, hn::GetLane(hn::SumOfLanes(df, acc[r][j])), accumulate);
}

// RW weight rows x rows [j, j + NX) of x (f32/bf16: x itself; Q8_0: xa, x quantised).
template <int RW, int NX>
HWY_INLINE void tile(float* out, int64_t ldo, const float* x, const Q8Activations* xa, int64_t j,
                     int64_t K, StorageType t, const uint8_t* const* rows, bool accumulate,
                     const uint8_t* ahead, int64_t ahead_step) {
  switch (t) {
    case StorageType::kF32:
      return tile_dense<RW, NX, StorageType::kF32>(out, ldo, x + j * K, K, rows, accumulate, ahead, ahead_step);
    case StorageType::kBF16:
      return tile_dense<RW, NX, StorageType::kBF16>(out, ldo, x + j * K, K, rows, accumulate, ahead, ahead_step);
    case StorageType::kQ8_0:
      return tile_q8_q8<RW, NX>(out, ldo, xa->rows_from(j), rows, accumulate, ahead, ahead_step);
  }
}

// Weight rows [r0, r0 + RW) against every row of x, NX rows of x at a time.
template <int RW>
HWY_INLINE void row_block(float* out, int64_t ldo, const float* x, const Q8Activations* xa, int64_t N,
                          const TypedMatrix& w, int64_t r0, bool accumulate) {
  const uint8_t* rows[RW];
  for (int r = 0; r < RW; ++r) rows[r] = w.row(r0 + r);
  const int64_t K = w.cols;
  // The next RW rows (stored right after these) are fetched ahead while the first tile of
  // x rows runs (the later tiles, N > 4, find them in the cache anyway): a weight row of a
  // small model is a short stream (Q8_0 at 768 columns: 13 cache lines), too short for the
  // hardware prefetcher to ramp up on, and decode waited on memory far below the machine's
  // read rate (small Q8_0: 38 -> 51-76 tokens/s with this, A/B in docs/serve.md).
  const int64_t steps = w.type == StorageType::kQ8_0 ? K / kQ8_0Block
                                                      : K / static_cast<int64_t>(hn::Lanes(DF()));
  const uint8_t* ahead = steps > 0 && r0 + 2 * RW <= w.rows ? w.row(r0 + RW) : nullptr;
  const int64_t ahead_step = steps > 0 ? RW * static_cast<int64_t>(w.row_bytes) / steps : 0;
  int64_t j = 0;
  for (; j + 4 <= N; j += 4) {
    tile<RW, 4>(out + j * ldo + r0, ldo, x, xa, j, K, w.type, rows, accumulate, j == 0 ? ahead : nullptr,
                ahead_step);
  }
  const uint8_t* rest_ahead = j == 0 ? ahead : nullptr;
  switch (N - j) {
    case 3: tile<RW, 3>(out + j * ldo + r0, ldo, x, xa, j, K, w.type, rows, accumulate, rest_ahead, ahead_step); break;
    case 2: tile<RW, 2>(out + j * ldo + r0, ldo, x, xa, j, K, w.type, rows, accumulate, rest_ahead, ahead_step); break;
    case 1: tile<RW, 1>(out + j * ldo + r0, ldo, x, xa, j, K, w.type, rows, accumulate, rest_ahead, ahead_step); break;
    default: break;
  }
}

// The weight rows of block b (rows 4b .. 4b+4), for the OpenMP loop below: a function of its own
// so the loop's outlined body holds no inlined vector code (clang compiles that body without
// the target's attributes, and clang 14 crashed on the AVX-512 copy: "Do not know how to split
// the result of this operator").
HWY_NOINLINE void row_blocks4(float* out, int64_t ldo, const float* x, const Q8Activations* xa,
                              int64_t N, const TypedMatrix& w, int64_t b, bool accumulate) {
  row_block<4>(out, ldo, x, xa, N, w, b * 4, accumulate);
}

}  // namespace

// Rows of w in blocks of 4 (one accumulator per weight row and x row: at most 16 vectors),
// blocks spread over the threads.
void typed_matvec_target(float* out, int64_t ldo, const float* x, int64_t N, const TypedMatrix& w,
                         bool accumulate) {
  constexpr int64_t kRW = 4;  // row_blocks4
  const int64_t M = w.rows, blocks = M / kRW;
  // A thread team pays off above ~32k weights when the workers spin between regions, above
  // ~256k when each region has to wake them (OMP_WAIT_POLICY=passive, the shared-core
  // setting, where a descheduled worker also stalls the whole region).
  const bool par = M * w.cols >= (threads_spin_when_idle() ? (1 << 15) : (1 << 18));
  // Q8_0 weights: the rows of x quantised once here, read by every weight row.
  thread_local Q8ActivationBuffer xq;
  const Q8Activations* xa = w.type == StorageType::kQ8_0 ? &xq.quantize(x, N, w.cols) : nullptr;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t b = 0; b < blocks; ++b) row_blocks4(out, ldo, x, xa, N, w, b, accumulate);
  for (int64_t r = blocks * kRW; r < M; ++r) row_block<1>(out, ldo, x, xa, N, w, r, accumulate);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(typed_matvec_target);

TypedMatrix typed_matrix(StorageType type, const void* data, int64_t rows, int64_t cols) {
  TypedMatrix m;
  m.type = type;
  m.data = data;
  m.rows = rows;
  m.cols = cols;
  m.row_bytes = storage_row_bytes(type, cols);
  return m;
}

void typed_matmul(float* out, int64_t ldo, const float* x, int64_t N, const TypedMatrix& w,
                  bool accumulate) {
  if (N == 0 || w.rows == 0) return;
  LONGCTX_CHECK(ldo >= w.rows && w.data != nullptr && w.row_bytes >= storage_row_bytes(w.type, w.cols),
                "typed_matmul: bad matrix (rows %lld, cols %lld, row_bytes %zu, ldo %lld)",
                static_cast<long long>(w.rows), static_cast<long long>(w.cols), w.row_bytes,
                static_cast<long long>(ldo));
  if (N <= kMatvecMaxRows) {
    HWY_DYNAMIC_DISPATCH(typed_matvec_target)(out, ldo, x, N, w, accumulate);
    return;
  }
  // out (N, rows) = x (N, K) @ W^T, W stored (rows, K) with row stride ldb.
  GemmArgs g;
  g.M = N, g.K = w.cols;
  g.a = x, g.lda = w.cols;
  g.trans_b = true;
  g.accumulate = accumulate;
  g.ldc = ldo;
  // LONGCTX_MATMUL_PRECISION=bf16: prefill-sized products take bf16 inputs (the own GEMM;
  // vdpbf16ps where the CPU has AVX512_BF16). Opt-in: the activations are then rounded.
  g.bf16_inputs = matmul_precision() == MatmulPrecision::kBf16;
  if (w.type == StorageType::kF32 && w.row_bytes % 4 == 0) {
    g.N = w.rows;
    g.b = static_cast<const float*>(w.data), g.ldb = static_cast<int64_t>(w.row_bytes / 4);
    g.c = out;
    gemm_by_engine(g);
    return;
  }
  if (matmul_engine() == MatmulEngine::kOwn || g.bf16_inputs) {
    // The own GEMM converts the typed rows while it packs them (GemmArgs::b_rows).
    g.N = w.rows;
    g.b_rows = w.data, g.b_type = w.type, g.b_row_bytes = w.row_bytes;
    g.c = out;
    gemm(g);
    return;
  }
  // BLAS: panels of kPanelRows rows converted to f32 in a buffer of the calling thread,
  // kept between calls (no allocation per step).
  thread_local std::vector<float> panel;
  const int64_t rows = std::min(kPanelRows, w.rows);
  if (panel.size() < static_cast<size_t>(rows * w.cols)) panel.resize(static_cast<size_t>(rows * w.cols));
  for (int64_t r0 = 0; r0 < w.rows; r0 += kPanelRows) {
    const int64_t m = std::min(kPanelRows, w.rows - r0);
    dequantize_rows(panel.data(), w.type, w.row(r0), w.row_bytes, m, w.cols);  // (m, K)
    g.N = m;
    g.b = panel.data(), g.ldb = w.cols;
    g.c = out + r0;
    gemm_by_engine(g);
  }
}

const Q8Activations& Q8ActivationBuffer::quantize(const float* x, int64_t N, int64_t K) {
  LONGCTX_CHECK(K % kQ8_0Block == 0, "Q8 activations: K %lld is not a multiple of %lld",
                static_cast<long long>(K), static_cast<long long>(kQ8_0Block));
  const int64_t nb = K / kQ8_0Block;
  if (q_.size() < static_cast<size_t>(N * K)) q_.resize(static_cast<size_t>(N * K));
  if (d_.size() < static_cast<size_t>(N * nb)) d_.resize(static_cast<size_t>(N * nb));
  for (int64_t b = 0; b < N * nb; ++b) {
    const float* xb = x + b * kQ8_0Block;
    float amax = 0.0f;
    for (int64_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    d_[static_cast<size_t>(b)] = d;
    int8_t* qb = q_.data() + b * kQ8_0Block;
    for (int64_t i = 0; i < kQ8_0Block; ++i)
      qb[i] = static_cast<int8_t>(std::clamp(std::nearbyint(xb[i] * id), -127.0f, 127.0f));
  }
  view_ = Q8Activations{q_.data(), d_.data(), K};
  return view_;
}

void typed_row(float* out, const TypedMatrix& w, int64_t r) {
  LONGCTX_CHECK(r >= 0 && r < w.rows, "typed_row: row %lld outside [0, %lld)",
                static_cast<long long>(r), static_cast<long long>(w.rows));
  dequantize_rows(out, w.type, w.row(r), w.row_bytes, 1, w.cols);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
