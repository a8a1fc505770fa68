#include "kernels/storage_type.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/simd_testing.h"
#include "kernels/storage_test_util.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

class StorageSimd : public PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(StorageSimd);

// Quantise -> decode in double: every element within the format's rounding bound, and the
// SIMD dequantisation equal to the double decoding exactly (d * q is exact in float).
TEST_P(StorageSimd, RoundTripWithinFormatBoundAndDequantiseExact) {
  const int64_t rows = 5, n = 96;
  auto x = testing::random_normal<float>(rows * n, 7, 3.0);
  x[5] = 0.0f;
  for (int64_t i = 0; i < n; ++i) x[2 * n + i] = 0.0f;  // an all-zero row (q8_0 scale 0)
  for (StorageType t : testing::kAllStorageTypes) {
    SCOPED_TRACE(storage_type_name(t));
    const size_t rb = storage_row_bytes(t, n);
    std::vector<uint8_t> stored(rb * rows);
    quantize_rows(stored.data(), t, x.data(), rows, n);
    std::vector<float> back(static_cast<size_t>(rows * n));
    dequantize_rows(back.data(), t, stored.data(), rb, rows, n);
    for (int64_t r = 0; r < rows; ++r) {
      const auto ref = testing::decode_row_double(t, stored.data() + r * rb, n);
      double amax = 0;
      for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(double(x[r * n + i])));
      for (int64_t i = 0; i < n; ++i) {
        const double xi = x[r * n + i], yi = ref[i];
        ASSERT_EQ(static_cast<double>(back[r * n + i]), yi) << "row " << r << " element " << i;
        if (t == StorageType::kF32) {
          ASSERT_EQ(xi, yi);
        }
        if (t == StorageType::kBF16) {
          ASSERT_LE(std::fabs(xi - yi), std::ldexp(std::fabs(xi), -8));
        }
        if (t == StorageType::kQ8_0) {
          // |x - q d16| <= d/2 (rounding of q) + 127 |d - d16| (f16 scale), d = block amax / 127.
          double bmax = 0;
          for (int64_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j)
            bmax = std::max(bmax, std::fabs(double(x[r * n + j])));
          ASSERT_LE(std::fabs(xi - yi), 0.57 * bmax / 127.0 + 1e-12) << i;
        }
      }
    }
    // Ranges at odd offsets, also inside a Q8_0 block, equal slices of the whole row.
    for (const auto& [start, count] : std::vector<std::pair<int64_t, int64_t>>{{0, 96}, {3, 8}, {30, 40}, {64, 32}, {95, 1}}) {
      std::vector<float> part(static_cast<size_t>(count));
      dequantize_range(part.data(), t, stored.data() + rb, start, count);
      for (int64_t i = 0; i < count; ++i) ASSERT_EQ(part[i], back[n + start + i]) << start << "+" << i;
    }
  }
}

// Known values: ggml's Q8_0 of 0, 0.1, ..., 3.1 has d = 3.1/127 and q = round(x / d);
// bf16 rounds to nearest even.
TEST_P(StorageSimd, KnownEncodings) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = 0.1f * i;
  std::vector<uint8_t> block(kQ8_0BlockBytes);
  quantize_rows(block.data(), StorageType::kQ8_0, x.data(), 1, 32);
  const double d = testing::half_to_double(static_cast<uint16_t>(block[0] | (block[1] << 8)));
  EXPECT_NEAR(d, 3.1 / 127, 3.1 / 127 * std::ldexp(1.0, -11));
  const float df = 3.1f / 127.0f;
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(static_cast<int8_t>(block[2 + i]), static_cast<int8_t>(std::lround(x[i] / df))) << i;
  EXPECT_EQ(static_cast<int8_t>(block[2 + 31]), 127);

  const float halfway_even = 1.0f + std::ldexp(1.0f, -8);                        // -> 1
  const float halfway_odd = 1.0f + std::ldexp(1.0f, -7) + std::ldexp(1.0f, -8);  // -> 1 + 2^-6
  const float in[2] = {halfway_even, halfway_odd};
  uint16_t out[2];
  quantize_rows(out, StorageType::kBF16, in, 1, 2);
  EXPECT_EQ(out[0], 0x3f80);
  EXPECT_EQ(out[1], 0x3f82);
}

TEST(Storage, NamesSizesAndErrors) {
  EXPECT_EQ(parse_storage_type("BF16", "--kv-type"), StorageType::kBF16);
  EXPECT_EQ(parse_storage_type("q8_0", "--kv-type"), StorageType::kQ8_0);
  EXPECT_EQ(parse_storage_type("f32", "x"), StorageType::kF32);
  try {
    parse_storage_type("q4_0", "--cache-type-k");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--cache-type-k"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("q4_0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(storage_row_bytes(StorageType::kF32, 10), 40u);
  EXPECT_EQ(storage_row_bytes(StorageType::kBF16, 10), 20u);
  EXPECT_EQ(storage_row_bytes(StorageType::kQ8_0, 64), 68u);
  EXPECT_THROW(storage_row_bytes(StorageType::kQ8_0, 40), Error);
  EXPECT_DOUBLE_EQ(storage_bytes_per_element(StorageType::kQ8_0), 34.0 / 32.0);
}

}  // namespace
}  // namespace longctx::kernels
