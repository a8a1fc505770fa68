// Storage conversions, compiled once per SIMD target (Highway foreach_target) and
// dispatched at run time. Dequantisation runs in the prefill path (weight panels; the
// prefill attention converts cache rows through storage_type-inl.h itself) and the decode
// attention; quantisation writes KV rows and converted weights.
#include "kernels/storage_type.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "core/error.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/storage_type.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void dequantize_rows_target(float* out, StorageType t, const void* src, size_t src_row_bytes,
                            int64_t rows, int64_t n) {
  const auto* base = static_cast<const uint8_t*>(src);
#pragma omp parallel for schedule(static) if (rows * n >= (1 << 18))
  for (int64_t r = 0; r < rows; ++r)
    store::dequantize_row(out + r * n, t, base + static_cast<size_t>(r) * src_row_bytes, n);
}

void dequantize_range_target(float* out, StorageType t, const void* row, int64_t start,
                             int64_t count) {
  store::dequantize_range(out, t, static_cast<const uint8_t*>(row), start, count);
}

void quantize_rows_target(void* out, StorageType t, const float* x, int64_t rows, int64_t n) {
  const size_t row_bytes = storage_row_bytes(t, n);
  auto* base = static_cast<uint8_t*>(out);
#pragma omp parallel for schedule(static) if (rows * n >= (1 << 18))
  for (int64_t r = 0; r < rows; ++r)
    store::quantize_row(base + static_cast<size_t>(r) * row_bytes, t, x + r * n, n);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(dequantize_rows_target);
HWY_EXPORT(dequantize_range_target);
HWY_EXPORT(quantize_rows_target);

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::kF32: return "f32";
    case StorageType::kBF16: return "bf16";
    case StorageType::kQ8_0: return "q8_0";
  }
  return "unknown";
}

StorageType parse_storage_type(std::string_view text, const std::string& what) {
  std::string s(text);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "f32" || s == "fp32") return StorageType::kF32;
  if (s == "bf16") return StorageType::kBF16;
  if (s == "q8_0" || s == "q8") return StorageType::kQ8_0;
  throw_error("%s: unknown storage type '%.*s' (known: f32, bf16, q8_0)", what.c_str(),
              static_cast<int>(text.size()), text.data());
}

size_t storage_row_bytes(StorageType t, int64_t n) {
  LONGCTX_CHECK(n >= 0, "storage_row_bytes: negative length %lld", static_cast<long long>(n));
  switch (t) {
    case StorageType::kF32: return static_cast<size_t>(n) * 4;
    case StorageType::kBF16: return static_cast<size_t>(n) * 2;
    case StorageType::kQ8_0:
      LONGCTX_CHECK(n % kQ8_0Block == 0,
                    "q8_0 storage needs rows whose length is a multiple of %lld, got %lld",
                    static_cast<long long>(kQ8_0Block), static_cast<long long>(n));
      return static_cast<size_t>(n / kQ8_0Block) * kQ8_0BlockBytes;
  }
  return 0;
}

double storage_bytes_per_element(StorageType t) {
  switch (t) {
    case StorageType::kF32: return 4.0;
    case StorageType::kBF16: return 2.0;
    case StorageType::kQ8_0: return static_cast<double>(kQ8_0BlockBytes) / kQ8_0Block;
  }
  return 4.0;
}

void quantize_rows(void* out, StorageType t, const float* x, int64_t rows, int64_t n) {
  storage_row_bytes(t, n);  // validates n for the type
  HWY_DYNAMIC_DISPATCH(quantize_rows_target)(out, t, x, rows, n);
}

void dequantize_rows(float* out, StorageType t, const void* src, size_t src_row_bytes,
                     int64_t rows, int64_t n) {
  LONGCTX_CHECK(src_row_bytes >= storage_row_bytes(t, n),
                "dequantize_rows: row stride %zu below the %zu bytes of a %s row of %lld",
                src_row_bytes, storage_row_bytes(t, n), storage_type_name(t),
                static_cast<long long>(n));
  HWY_DYNAMIC_DISPATCH(dequantize_rows_target)(out, t, src, src_row_bytes, rows, n);
}

void dequantize_range(float* out, StorageType t, const void* row, int64_t start, int64_t count) {
  HWY_DYNAMIC_DISPATCH(dequantize_range_target)(out, t, row, start, count);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
