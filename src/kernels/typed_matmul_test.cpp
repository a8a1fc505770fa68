#include "kernels/typed_matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/simd_testing.h"
#include "kernels/storage_test_util.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

class TypedMatmulSimd : public PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(TypedMatmulSimd);

// Double reference: the stored weights decoded exactly, products and sums in double.
// Error measure per output: |out - ref| / sum_k |w_k x_k| (float accumulation of K terms
// stays well below 1e-5 of that for K <= 1024). Q8_0 weights in the matrix-vector regime
// multiply x quantised to Q8 blocks (typed_matmul.h): the reference then uses exactly those
// values (same 1e-5), and the result stays within 1/254 of the unquantised product (the
// largest rounding of an activation is half a step, max|x| / 254 of its block).
void check_against_reference(StorageType t, int64_t N, int64_t K, int64_t M, bool accumulate) {
  SCOPED_TRACE(::testing::Message() << storage_type_name(t) << " N=" << N << " K=" << K << " M=" << M
                                    << " accumulate=" << accumulate);
  const auto wf = testing::random_normal<float>(M * K, 100 + M + K, 0.05);
  const auto x = testing::random_normal<float>(N * K, 200 + N);
  const size_t rb = storage_row_bytes(t, K);
  std::vector<uint8_t> w(rb * M);
  quantize_rows(w.data(), t, wf.data(), M, K);
  const TypedMatrix tm = typed_matrix(t, w.data(), M, K);
  const int64_t ldo = M + 3;  // wider output rows: the extra columns must stay untouched
  auto out = testing::random_normal<float>(N * ldo, 300);
  const auto before = out;
  typed_matmul(out.data(), ldo, x.data(), N, tm, accumulate);
  // The activations the kernel multiplies: x itself, or its Q8 blocks decoded exactly.
  const bool q8_x = t == StorageType::kQ8_0 && N <= kMatvecMaxRows;
  std::vector<double> xk(x.begin(), x.end());
  if (q8_x) {
    Q8ActivationBuffer buf;
    const Q8Activations& xa = buf.quantize(x.data(), N, K);
    for (int64_t i = 0; i < N * K; ++i) xk[i] = double(xa.q[i]) * double(xa.d[i / 32]);
  }
  double worst = 0, worst_vs_exact_x = 0;
  for (int64_t r = 0; r < M; ++r) {
    const auto wr = testing::decode_row_double(t, w.data() + r * rb, K);
    for (int64_t n = 0; n < N; ++n) {
      double ref = accumulate ? before[n * ldo + r] : 0.0, mag = accumulate ? std::fabs(ref) : 0.0;
      double exact = ref;
      for (int64_t k = 0; k < K; ++k) {
        ref += wr[k] * xk[n * K + k];
        exact += wr[k] * x[n * K + k];
        mag += std::fabs(wr[k] * x[n * K + k]);
      }
      worst = std::max(worst, std::fabs(out[n * ldo + r] - ref) / (mag + 1e-30));
      worst_vs_exact_x = std::max(worst_vs_exact_x, std::fabs(out[n * ldo + r] - exact) / (mag + 1e-30));
    }
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_LT(worst_vs_exact_x, q8_x ? 1.0 / 254 : 1e-5);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = M; c < ldo; ++c) ASSERT_EQ(out[n * ldo + c], before[n * ldo + c]);
}

// Both regimes (matrix-vector tiles for N <= kMatvecMaxRows, panels + BLAS above), every
// tile remainder (N mod 4, M mod 4), K not a multiple of the vector width for f32/bf16.
TEST_P(TypedMatmulSimd, MatchesDoubleReference) {
  for (StorageType t : testing::kAllStorageTypes) {
    const int64_t K = t == StorageType::kQ8_0 ? 96 : 77;
    for (int64_t N : {int64_t(1), int64_t(2), int64_t(3), int64_t(5), kMatvecMaxRows, kMatvecMaxRows + 1, int64_t(40)})
      for (int64_t M : {int64_t(1), int64_t(7), int64_t(33)}) check_against_reference(t, N, K, M, false);
    check_against_reference(t, 4, K, 9, true);
    check_against_reference(t, 37, K, 9, true);
  }
  // More rows than one BLAS panel, and the model-sized reduction length.
  check_against_reference(StorageType::kQ8_0, 20, 1024, kPanelRows + 5, false);
  check_against_reference(StorageType::kBF16, 2, 1024, 64, false);
}

// LONGCTX_MATMUL_PRECISION=bf16 (set_matmul_precision): prefill-sized products (N above
// kMatvecMaxRows) take bf16 inputs, bit-identical to the own GEMM's bf16 product of the
// decoded matrix, and differ from the fp32 product by the rounding; decode-sized ones
// (matrix-vector tiles) are not affected.
TEST_P(TypedMatmulSimd, Bf16PrecisionTakesBf16InputsForPrefillProducts) {
  const int64_t K = 96, M = 33;
  for (StorageType t : {StorageType::kF32, StorageType::kBF16, StorageType::kQ8_0}) {
    for (int64_t N : {int64_t(3), int64_t(40)}) {
      SCOPED_TRACE(::testing::Message() << storage_type_name(t) << " N=" << N);
      const auto wf = testing::random_normal<float>(M * K, 7, 0.05);
      const auto x = testing::random_normal<float>(N * K, 8);
      const size_t rb = storage_row_bytes(t, K);
      std::vector<uint8_t> w(rb * M);
      quantize_rows(w.data(), t, wf.data(), M, K);
      std::vector<float> decoded(M * K);
      dequantize_rows(decoded.data(), t, w.data(), rb, M, K);
      const TypedMatrix tm = typed_matrix(t, w.data(), M, K);
      std::vector<float> fp32(N * M), bf16(N * M), ref(N * M);
      typed_matmul(fp32.data(), M, x.data(), N, tm, false);
      set_matmul_precision(MatmulPrecision::kBf16);
      typed_matmul(bf16.data(), M, x.data(), N, tm, false);
      set_matmul_precision(MatmulPrecision::kF32);
      if (N <= kMatvecMaxRows) {
        EXPECT_EQ(std::memcmp(bf16.data(), fp32.data(), fp32.size() * sizeof(float)), 0);
        continue;
      }
      GemmArgs g;
      g.M = N, g.N = M, g.K = K;
      g.a = x.data(), g.lda = K;
      g.b = decoded.data(), g.ldb = K, g.trans_b = true;
      g.c = ref.data(), g.ldc = M;
      g.bf16_inputs = true;
      gemm(g);
      EXPECT_EQ(std::memcmp(bf16.data(), ref.data(), ref.size() * sizeof(float)), 0);
      EXPECT_GT(testing::max_rel_error(bf16, fp32), 1e-4);
    }
  }
}

// The activation quantiser: values on the grid of their block, zero blocks stay zero, the
// block maximum maps to +-127, and the rows are independent (so batching does not change a
// sequence's result).
TEST(Q8Activations, BlocksScaleRoundAndStayPerRow) {
  const int64_t N = 3, K = 64;
  auto x = testing::random_normal<float>(N * K, 9);
  for (int64_t k = 32; k < 64; ++k) x[k] = 0.0f;  // row 0, block 1: all zero
  x[2 * K + 5] = -7.5f;                            // row 2, block 0: its extreme is negative
  Q8ActivationBuffer buf;
  const Q8Activations& a = buf.quantize(x.data(), N, K);
  EXPECT_EQ(a.d[1], 0.0f);
  for (int64_t k = 32; k < 64; ++k) EXPECT_EQ(a.q[k], 0);
  EXPECT_FLOAT_EQ(a.d[2 * 2], 7.5f / 127);
  EXPECT_EQ(a.q[2 * K + 5], -127);
  for (int64_t i = 0; i < N * K; ++i) {
    EXPECT_LE(std::abs(a.q[i]), 127);
    EXPECT_LE(std::fabs(double(a.q[i]) * a.d[i / 32] - x[i]), 0.5 * a.d[i / 32] * (1 + 1e-6)) << i;
  }
  std::vector<int8_t> all(a.q, a.q + N * K);
  Q8ActivationBuffer one;
  const Q8Activations& r2 = one.quantize(x.data() + 2 * K, 1, K);
  for (int64_t k = 0; k < K; ++k) EXPECT_EQ(r2.q[k], all[2 * K + k]);
  EXPECT_THROW(buf.quantize(x.data(), 1, 33), Error);
}

TEST_P(TypedMatmulSimd, RowLookupIsExact) {
  const int64_t M = 6, K = 64;
  const auto wf = testing::random_normal<float>(M * K, 5);
  for (StorageType t : testing::kAllStorageTypes) {
    std::vector<uint8_t> w(storage_row_bytes(t, K) * M);
    quantize_rows(w.data(), t, wf.data(), M, K);
    const TypedMatrix tm = typed_matrix(t, w.data(), M, K);
    std::vector<float> row(K);
    typed_row(row.data(), tm, 4);
    const auto ref = testing::decode_row_double(t, tm.row(4), K);
    for (int64_t k = 0; k < K; ++k) ASSERT_EQ(double(row[k]), ref[k]);
    EXPECT_THROW(typed_row(row.data(), tm, M), Error);
  }
}

}  // namespace
}  // namespace longctx::kernels
