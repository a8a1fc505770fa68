// Storage formats for weights: IEEE half (f16), bfloat16 and GGML's Q8_0 blocks,
// converted to and from f32. Round to nearest even on narrowing; NaN stays NaN.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace longctx::io {

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t f32_to_bf16(float f);

// Q8_0: blocks of 32 values = f16 scale d, then 32 int8 q; value = d * q.
constexpr int64_t kQ8Block = 32;
constexpr size_t kQ8BlockBytes = 34;
void dequantize_q8_0(float* out, const uint8_t* blocks, int64_t n /* multiple of 32 */);

// Whole-array conversions (n elements).
void f16_array_to_f32(float* out, const uint16_t* in, size_t n);
void bf16_array_to_f32(float* out, const uint16_t* in, size_t n);
void f32_array_to_f16(uint16_t* out, const float* in, size_t n);
void f32_array_to_bf16(uint16_t* out, const float* in, size_t n);

}  // namespace longctx::io
