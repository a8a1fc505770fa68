// Double references for stored rows (tests only): decodes f32 / bf16 / Q8_0 bytes with
// plain arithmetic (no SIMD, no hardware conversions), so the kernels' conversions are
// checked against an independent reading of the format.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/storage_type.h"

namespace longctx::testing {

// IEEE binary16 -> double by its definition (sign, 5-bit exponent, 10-bit mantissa).
inline double half_to_double(uint16_t h) {
  const int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0)
    v = std::ldexp(static_cast<double>(m), -24);  // subnormal
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = std::ldexp(1.0 + m / 1024.0, e - 15);
  return sign ? -v : v;
}

// One stored row of n elements -> doubles.
inline std::vector<double> decode_row_double(kernels::StorageType t, const uint8_t* row, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t) {
      case kernels::StorageType::kF32: {
        float f;
        std::memcpy(&f, row + 4 * i, 4);
        out[i] = f;
        break;
      }
      case kernels::StorageType::kBF16: {
        const uint32_t bits = static_cast<uint32_t>(row[2 * i] | (row[2 * i + 1] << 8)) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        out[i] = f;
        break;
      }
      case kernels::StorageType::kQ8_0: {
        const uint8_t* block = row + (i / 32) * 34;
        const uint16_t d = static_cast<uint16_t>(block[0] | (block[1] << 8));
        out[i] = half_to_double(d) * static_cast<int8_t>(block[2 + i % 32]);
        break;
      }
    }
  }
  return out;
}

inline const kernels::StorageType kAllStorageTypes[] = {
    kernels::StorageType::kF32, kernels::StorageType::kBF16, kernels::StorageType::kQ8_0};

}  // namespace longctx::testing
