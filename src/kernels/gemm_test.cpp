// The own GEMM against a double-precision reference over odd shapes, every transpose,
// accumulation and padded leading dimensions, once per SIMD target; against BLAS; and
// its determinism across thread counts.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/matmul.h"
#include "kernels/simd_testing.h"
#include "kernels/storage_test_util.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

struct GemmCase {
  int64_t M, N, K;
  bool trans_a, trans_b, accumulate;
  int64_t pad = 0;  // extra floats per row in A, B and C (leading dimension > width)
};

// Operands stored as the case says, C pre-filled (accumulation adds to it).
struct Operands {
  std::vector<float> a, b, c;
  GemmArgs args;
};

Operands make_operands(const GemmCase& t, uint64_t seed) {
  Operands o;
  const int64_t a_rows = t.trans_a ? t.K : t.M, a_cols = (t.trans_a ? t.M : t.K) + t.pad;
  const int64_t b_rows = t.trans_b ? t.N : t.K, b_cols = (t.trans_b ? t.K : t.N) + t.pad;
  o.a = testing::random_normal<float>(a_rows * a_cols, seed);
  o.b = testing::random_normal<float>(b_rows * b_cols, seed + 1);
  o.c = testing::random_normal<float>(t.M * (t.N + t.pad), seed + 2);
  GemmArgs& g = o.args;
  g.M = t.M, g.N = t.N, g.K = t.K;
  g.a = o.a.data(), g.lda = a_cols, g.trans_a = t.trans_a;
  g.b = o.b.data(), g.ldb = b_cols, g.trans_b = t.trans_b;
  g.c = o.c.data(), g.ldc = t.N + t.pad;
  g.accumulate = t.accumulate;
  return o;
}

// x rounded to the nearest bf16 value (ties to the even mantissa), chosen between its two
// bf16 neighbours by distance: derived independently of the kernel's integer rounding.
// Finite x only.
double bf16_reference(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t lo_bits = u & 0xffff0000u, hi_bits = lo_bits + 0x10000u;
  float lo, hi;
  std::memcpy(&lo, &lo_bits, 4);
  std::memcpy(&hi, &hi_bits, 4);
  const double d_lo = std::fabs(double(x) - lo), d_hi = std::fabs(double(hi) - x);
  if (d_lo != d_hi) return d_lo < d_hi ? lo : hi;
  return (lo_bits >> 16) & 1u ? hi : lo;
}

// Worst element error |C - C_ref| / sum_k |A_ik B_kj| (the scale float rounding errors are
// relative to), with C_ref in double (from bf16-rounded operands when bf16); padding
// columns of C must be untouched.
double normalised_error(const Operands& o, const std::vector<float>& c_before, bool bf16 = false) {
  const GemmArgs& g = o.args;
  // The operands as the reference multiplies them (rounded once, not per product).
  std::vector<double> a_ref(o.a.begin(), o.a.end()), b_ref(o.b.begin(), o.b.end());
  if (bf16) {
    for (size_t i = 0; i < o.a.size(); ++i) a_ref[i] = bf16_reference(o.a[i]);
    for (size_t i = 0; i < o.b.size(); ++i) b_ref[i] = bf16_reference(o.b[i]);
  }
  double worst = 0.0;
  for (int64_t m = 0; m < g.M; ++m) {
    for (int64_t n = 0; n < g.ldc; ++n) {
      const float got = o.c[m * g.ldc + n];
      if (n >= g.N) {  // outside C
        if (std::memcmp(&got, &c_before[m * g.ldc + n], sizeof(float)) != 0) return INFINITY;
        continue;
      }
      double sum = g.accumulate ? double(c_before[m * g.ldc + n]) : 0.0;
      double scale = g.accumulate ? std::fabs(sum) : 0.0;
      for (int64_t k = 0; k < g.K; ++k) {
        const double a = g.trans_a ? a_ref[k * g.lda + m] : a_ref[m * g.lda + k];
        const double b = g.trans_b ? b_ref[n * g.ldb + k] : b_ref[k * g.ldb + n];
        sum += a * b;
        scale += std::fabs(a * b);
      }
      const double err = std::fabs(double(got) - sum) / (scale + 1e-30);
      if (std::isnan(err)) return NAN;
      worst = std::max(worst, err);
    }
  }
  return worst;
}

// Float accumulation of K products: rounding errors grow like sqrt(K) units of float
// round-off (2^-24) of the sum of magnitudes for random data; 16 sqrt(K) u leaves a wide
// margin above what correct code gives and is ~1000x below a wrong or missing term.
double tolerance(int64_t K) { return 16.0 * std::sqrt(double(std::max<int64_t>(K, 1))) * 5.96e-8; }

// Shapes around every boundary: few-row path (M <= 4), micro-tile edges (6/12 rows,
// 16/32 columns), row blocks (120/240 rows), depth blocks (256), column blocks (4096).
const GemmCase kShapes[] = {
    {1, 1, 1, false, false, false},     {1, 37, 70, false, true, false},
    {3, 129, 300, true, true, true},    {4, 4100, 64, false, false, true},
    {5, 17, 3, false, false, false},    {7, 33, 257, false, true, false, 3},
    {13, 16, 256, true, false, true},   {64, 100, 64, false, true, true},
    {121, 47, 130, true, true, false},  {257, 65, 513, false, false, true, 5},
    {250, 1, 40, false, true, false},   {130, 4200, 300, false, true, true},
    {6, 32, 0, false, false, false},    {6, 32, 0, false, false, true},
};

class GemmSimd : public PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(GemmSimd);

// Every shape of kShapes in all four transpose forms (the big one once, in its own),
// each with fresh operands (seeds from `seed` on) and a trace naming the case.
template <class Check>
void for_each_case(uint64_t seed, Check check) {
  for (const GemmCase& base : kShapes) {
    for (int form = 0; form < 4; ++form) {
      GemmCase t = base;
      if (t.N > 4096 && form > 0) break;
      if (t.N <= 4096) t.trans_a = form & 1, t.trans_b = form & 2;
      SCOPED_TRACE(::testing::Message() << "M=" << t.M << " N=" << t.N << " K=" << t.K
                                        << " ta=" << t.trans_a << " tb=" << t.trans_b
                                        << " acc=" << t.accumulate << " pad=" << t.pad);
      check(t, make_operands(t, seed += 3));
    }
  }
}

TEST_P(GemmSimd, MatchesDoubleReferenceOverOddShapesAndTransposes) {
  for_each_case(1, [](const GemmCase& t, Operands o) {
    const std::vector<float> before = o.c;
    gemm(o.args);
    EXPECT_LE(normalised_error(o, before), tolerance(t.K));
  });
}

// bf16 inputs (GemmArgs::bf16_inputs): the same shapes against a double reference of the
// rounded operands; and the rounding must show against the unrounded product (bf16 keeps
// 8 mantissa bits: errors ~2^-9 / sqrt(K) of the scale, far above fp32's). Both ways.
TEST_P(GemmSimd, Bf16InputsMatchDoubleReferenceOfRoundedOperands) {
  for (const bool instruction : bf16_ways()) {
    SCOPED_TRACE(instruction ? "bf16 instruction" : "fp32 FMA on rounded operands");
    const Bf16Way way(instruction);
    for_each_case(100, [](const GemmCase& t, Operands o) {
      o.args.bf16_inputs = true;
      const std::vector<float> before = o.c;
      gemm(o.args);
      EXPECT_LE(normalised_error(o, before, /*bf16=*/true), tolerance(t.K));
      if (t.K >= 64 && !t.accumulate) {
        EXPECT_GT(normalised_error(o, before), 10 * tolerance(t.K));
      }
    });
  }
}

// On an AVX-512 target of a CPU with AVX512_BF16 the instruction is what runs: its pairs
// are summed in another order than the FMA way's, so the two results differ in the last
// bits (and each meets the reference above). Skips where the CPU lacks the instruction.
TEST_P(GemmSimd, Bf16InstructionRunsWhereTheCpuHasIt) {
  if (!avx512_target(GetParam()) || !gemm_bf16_instruction())
    GTEST_SKIP() << "no bf16 instruction on target " << simd_target_name(GetParam())
                 << " (CPU avx512_bf16: " << gemm_bf16_instruction() << ")";
  const GemmCase t{100, 70, 300, false, true, false};
  Operands with = make_operands(t, 5), without = make_operands(t, 5);
  with.args.bf16_inputs = without.args.bf16_inputs = true;
  gemm(with.args);
  {
    const Bf16Way way(false);
    gemm(without.args);
  }
  EXPECT_NE(std::memcmp(with.c.data(), without.c.data(), with.c.size() * sizeof(float)), 0);
  EXPECT_LE(testing::max_rel_error(with.c, without.c), 1e-2);
}

// The rounding to bf16 itself, value by value: C = A @ I with bf16 inputs is A rounded
// (each C element one product with 1, plus zeros), so every packer's rounding shows
// exactly: ties to even and to odd mantissas, values just off a tie, large, small and
// negative ones (normal floats only: the bf16 instruction treats subnormals as zero).
// Every transpose form; both ways.
TEST_P(GemmSimd, Bf16RoundingIsNearestEvenInEveryPacker) {
  const int64_t M = 37, K = 71;  // edge tiles; depth: vector pairs, scalar pairs, odd last
  std::vector<float> a(M * K);
  for (int64_t i = 0; i < M * K; ++i) {
    const uint32_t mant = static_cast<uint32_t>((i * 2654435761u) >> 9) & 0x7fff;  // low bits
    const uint32_t kinds[] = {0x8000u, 0x8000u | 0x10000u, 0x7fffu, 0x8001u, mant, 0x0u};
    const uint32_t exp = static_cast<uint32_t>(100 + (i * 7) % 60) << 23;
    uint32_t u = exp | (static_cast<uint32_t>(i * 40503u) & 0x7f0000u) | kinds[i % 6];
    if (i % 5 == 0) u |= 0x80000000u;
    std::memcpy(&a[i], &u, 4);
  }
  std::vector<float> eye(K * K, 0.0f);
  for (int64_t k = 0; k < K; ++k) eye[k * K + k] = 1.0f;
  for (const bool instruction : bf16_ways()) {
    const Bf16Way way(instruction);
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        SCOPED_TRACE(::testing::Message() << (instruction ? "instruction" : "FMA") << " ta=" << trans_a
                                          << " tb=" << trans_b);
        std::vector<float> stored = a;  // (M, K), or (K, M) when trans_a
        if (trans_a)
          for (int64_t m = 0; m < M; ++m)
            for (int64_t k = 0; k < K; ++k) stored[k * M + m] = a[m * K + k];
        std::vector<float> c(M * K, -1.0f);
        GemmArgs g;
        g.M = M, g.N = K, g.K = K;
        g.a = stored.data(), g.lda = trans_a ? M : K, g.trans_a = trans_a;
        g.b = eye.data(), g.ldb = K, g.trans_b = trans_b;
        g.c = c.data(), g.ldc = K, g.bf16_inputs = true;
        gemm(g);
        int wrong = 0;
        for (int64_t i = 0; i < M * K; ++i)
          if (double(c[i]) != bf16_reference(a[i]) && ++wrong <= 3)
            ADD_FAILURE() << "element " << i << ": " << a[i] << " -> " << c[i] << ", want "
                          << bf16_reference(a[i]);
        EXPECT_EQ(wrong, 0);
      }
    }
  }
}

TEST_P(GemmSimd, BitIdenticalForAnyThreadCount) {
  for (const bool bf16 : {false, true}) {
    for (const bool instruction : bf16 ? bf16_ways() : std::vector<bool>{false}) {
      SCOPED_TRACE(bf16 ? (instruction ? "bf16 instruction" : "bf16 inputs, FMA") : "fp32");
      const Bf16Way way(instruction);
      const GemmCase t{300, 530, 600, false, true, true};
      Operands one = make_operands(t, 77), two = make_operands(t, 77);
      one.args.bf16_inputs = two.args.bf16_inputs = bf16;
      set_num_threads(1);
      gemm(one.args);
      set_num_threads(2);
      gemm(two.args);
      set_num_threads(0);
      EXPECT_EQ(std::memcmp(one.c.data(), two.c.data(), one.c.size() * sizeof(float)), 0);
    }
  }
}

// B as typed rows (GemmArgs::b_rows: bf16 / Q8_0 inference weights read in place):
// bit-identical to the product with the rows decoded to f32 as b, since the conversion
// is exact and the product's order of sums is the same (typed rows are always packed, so
// for M <= kGemvRows only with bf16 inputs); both products within the
// fp32 tolerance of a double reference of the decoded rows (decoded by the tests' own
// plain-arithmetic reading of the formats). Rows padded past their bytes, the few-row
// sizes (typed rows are always packed), edge micro-tiles, depth blocks (K 300 / 288) and
// a column block boundary (N 4100); fp32 and bf16 inputs.
TEST_P(GemmSimd, TypedRowsOfBMatchTheConvertedMatrix) {
  struct Shape { int64_t M, N, K; bool accumulate; };
  const Shape shapes[] = {{1, 37, 96, false}, {5, 17, 64, true},   {13, 47, 288, false},
                          {121, 33, 300, true}, {257, 65, 96, false}, {30, 4100, 64, true}};
  uint64_t seed = 900;
  for (const StorageType type : {StorageType::kBF16, StorageType::kQ8_0}) {
    for (const Shape& s : shapes) {
      const int64_t K = type == StorageType::kQ8_0 ? s.K / 32 * 32 : s.K;
      const size_t row_bytes = storage_row_bytes(type, K) + 6;  // padded rows
      const auto wf = testing::random_normal<float>(s.N * K, ++seed);
      std::vector<uint8_t> rows(row_bytes * s.N);
      for (int64_t n = 0; n < s.N; ++n) quantize_rows(rows.data() + n * row_bytes, type, wf.data() + n * K, 1, K);
      std::vector<float> decoded(s.N * K);  // the rows as f32, by the double reference decoder
      for (int64_t n = 0; n < s.N; ++n) {
        const auto d = testing::decode_row_double(type, rows.data() + n * row_bytes, K);
        for (int64_t k = 0; k < K; ++k) decoded[n * K + k] = static_cast<float>(d[k]);
      }
      for (const bool bf16 : {false, true}) {
        SCOPED_TRACE(::testing::Message() << storage_type_name(type) << " M=" << s.M << " N=" << s.N
                                          << " K=" << K << " acc=" << s.accumulate << " bf16=" << bf16);
        Operands o = make_operands({s.M, s.N, K, false, true, s.accumulate}, ++seed);
        o.b = decoded;
        o.args.b = o.b.data(), o.args.ldb = K, o.args.bf16_inputs = bf16;
        const std::vector<float> before = o.c;
        std::vector<float> typed_c = o.c;
        GemmArgs typed = o.args;
        typed.b = nullptr, typed.ldb = 0;
        typed.b_rows = rows.data(), typed.b_type = type, typed.b_row_bytes = row_bytes;
        typed.c = typed_c.data();
        gemm(typed);
        gemm(o.args);
        if (s.M > kGemvRows || bf16) {  // the f32 product packs too (not gemm_few_rows)
          EXPECT_EQ(std::memcmp(typed_c.data(), o.c.data(), o.c.size() * sizeof(float)), 0);
        }
        EXPECT_LE(normalised_error(o, before, bf16), tolerance(K));
        o.c = typed_c;
        EXPECT_LE(normalised_error(o, before, bf16), tolerance(K));
      }
    }
  }
}

TEST(Gemm, BlasReferenceAgreesOnTheSameOperands) {
  for (const GemmCase& t : kShapes) {
    SCOPED_TRACE(::testing::Message() << "M=" << t.M << " N=" << t.N << " K=" << t.K);
    Operands own = make_operands(t, 5), blas = make_operands(t, 5);
    const std::vector<float> before = blas.c;
    gemm(own.args);
    gemm_blas(blas.args);
    EXPECT_LE(normalised_error(blas, before), tolerance(t.K));
    EXPECT_LE(testing::max_rel_error(own.c, blas.c), 1e-5);
  }
}

TEST(Gemm, MatmulEngineSwitchesAndNamesBadValues) {
  const MatmulEngine saved = matmul_engine();
  const int64_t N = 9, K = 40, M = 33;
  const auto x = testing::random_normal<float>(N * K, 3), w = testing::random_normal<float>(M * K, 4);
  std::vector<float> own(N * M), blas(N * M);
  set_matmul_engine(MatmulEngine::kOwn);
  matmul_forward(own.data(), x.data(), w.data(), N, K, M);
  set_matmul_engine(MatmulEngine::kBlas);
  matmul_forward(blas.data(), x.data(), w.data(), N, K, M);
  set_matmul_engine(saved);
  EXPECT_LE(testing::max_rel_error(own, blas), 1e-6);
  EXPECT_EQ(parse_matmul_engine("blas", "--matmul"), MatmulEngine::kBlas);
  EXPECT_EQ(parse_matmul_engine("own", "--matmul"), MatmulEngine::kOwn);
  try {
    parse_matmul_engine("mkl", "LONGCTX_MATMUL");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("LONGCTX_MATMUL"), std::string::npos) << e.what();
  }
}

TEST(Gemm, MatmulPrecisionBf16TakesTheOwnEngineAndNamesBadValues) {
  const MatmulEngine saved_engine = matmul_engine();
  const MatmulPrecision saved = matmul_precision();
  const int64_t N = 9, K = 200, M = 33;
  const auto x = testing::random_normal<float>(N * K, 3), w = testing::random_normal<float>(M * K, 4);
  std::vector<float> fp32(N * M), bf16_own(N * M), bf16_blas(N * M);
  matmul_forward(fp32.data(), x.data(), w.data(), N, K, M);
  set_matmul_precision(MatmulPrecision::kBf16);
  set_matmul_engine(MatmulEngine::kOwn);
  matmul_forward(bf16_own.data(), x.data(), w.data(), N, K, M);
  set_matmul_engine(MatmulEngine::kBlas);  // bf16 products take the own GEMM regardless
  matmul_forward(bf16_blas.data(), x.data(), w.data(), N, K, M);
  set_matmul_engine(saved_engine);
  set_matmul_precision(saved);
  EXPECT_EQ(std::memcmp(bf16_own.data(), bf16_blas.data(), bf16_own.size() * sizeof(float)), 0);
  EXPECT_GT(testing::max_rel_error(bf16_own, fp32), 1e-4);  // the rounding is there
  EXPECT_LE(testing::max_rel_error(bf16_own, fp32), 5e-2);  // and only the rounding
  EXPECT_EQ(parse_matmul_precision("bf16", "--matmul-precision"), MatmulPrecision::kBf16);
  EXPECT_EQ(parse_matmul_precision("fp32", "--matmul-precision"), MatmulPrecision::kF32);
  EXPECT_STREQ(matmul_precision_name(MatmulPrecision::kBf16), "bf16");
  try {
    parse_matmul_precision("fp16", "--matmul-precision");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--matmul-precision"), std::string::npos) << e.what();
  }
  std::vector<float> c(N * M);
  GemmArgs g;
  g.M = N, g.N = M, g.K = K;
  g.a = x.data(), g.lda = K, g.b = w.data(), g.ldb = K, g.trans_b = true;
  g.c = c.data(), g.ldc = M, g.bf16_inputs = true;
  EXPECT_THROW(gemm_blas(g), Error);
}

TEST(Gemm, RejectsInconsistentArguments) {
  std::vector<float> a(64), b(64), c(64);
  GemmArgs g;
  g.M = 4, g.N = 4, g.K = 4;
  g.a = a.data(), g.lda = 4, g.b = b.data(), g.ldb = 4, g.c = c.data(), g.ldc = 4;
  GemmArgs bad = g;
  bad.lda = 3;
  EXPECT_THROW(gemm(bad), Error);
  bad = g;
  bad.trans_b = true, bad.ldb = 3;
  EXPECT_THROW(gemm(bad), Error);
  bad = g;
  bad.ldc = 2;
  EXPECT_THROW(gemm(bad), Error);
  bad = g;
  bad.K = -1;
  EXPECT_THROW(gemm(bad), Error);
  bad = g;
  bad.a = nullptr;
  EXPECT_THROW(gemm(bad), Error);
  EXPECT_NO_THROW(gemm(g));
  // Typed B rows: only with trans_b, rows long enough for K values, Q8_0 K on its blocks,
  // and not through the BLAS library.
  std::vector<uint8_t> rows(4 * 68);
  GemmArgs typed = g;
  typed.K = 64, typed.lda = 64;
  std::vector<float> wide_a(4 * 64);
  typed.a = wide_a.data(), typed.b = nullptr, typed.ldb = 0, typed.trans_b = true;
  typed.b_rows = rows.data(), typed.b_type = StorageType::kQ8_0, typed.b_row_bytes = 68;
  EXPECT_NO_THROW(gemm(typed));
  EXPECT_THROW(gemm_blas(typed), Error);
  bad = typed;
  bad.trans_b = false;
  EXPECT_THROW(gemm(bad), Error);
  bad = typed;
  bad.b_row_bytes = 67;
  EXPECT_THROW(gemm(bad), Error);
  bad = typed;
  bad.K = 48;
  EXPECT_THROW(gemm(bad), Error);
}

}  // namespace
}  // namespace longctx::kernels
