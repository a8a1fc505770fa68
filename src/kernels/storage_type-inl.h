// Per-target building blocks for typed rows (f32, bf16, Q8_0): conversion of a row or
// part of a row to f32 and back. Included by the kernel files after
// <hwy/foreach_target.h> (Highway's -inl.h pattern: one copy per target in
// longctx::kernels::HWY_NAMESPACE::store).
#if defined(LONGCTX_KERNELS_STORAGE_TYPE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_STORAGE_TYPE_INL_H_
#undef LONGCTX_KERNELS_STORAGE_TYPE_INL_H_
#else
#define LONGCTX_KERNELS_STORAGE_TYPE_INL_H_
#endif

#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/storage_type.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::store {

namespace hn = hwy::HWY_NAMESPACE;

// IEEE half -> float through the target's conversion (F16C on AVX2/AVX-512).
HWY_INLINE float half_to_float(const uint8_t* p) {
  const hn::CappedTag<hwy::float16_t, 1> d16;
  const hn::Rebind<float, decltype(d16)> d32;
  hwy::float16_t h;
  std::memcpy(&h, p, 2);
  return hn::GetLane(hn::PromoteTo(d32, hn::LoadU(d16, &h)));
}

HWY_INLINE void float_to_half(uint8_t* p, float f) {
  const hn::CappedTag<float, 1> d32;
  const hn::Rebind<hwy::float16_t, decltype(d32)> d16;
  hwy::float16_t h;
  hn::StoreU(hn::DemoteTo(d16, hn::Set(d32, f)), d16, &h);
  std::memcpy(p, &h, 2);
}

// Round to nearest even (NaN kept quiet), as io/float_formats and PyTorch do.
HWY_INLINE uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Lanes of float: out[0..Lanes) from Lanes bf16 values at p.
template <class DF>
HWY_INLINE hn::Vec<DF> load_bf16(DF df, const uint8_t* p) {
  const hn::Rebind<hwy::bfloat16_t, DF> dbf;
  return hn::PromoteTo(df, hn::LoadU(dbf, reinterpret_cast<const hwy::bfloat16_t*>(p)));
}
// Lanes of float from Lanes int8 values at p (not scaled).
template <class DF>
HWY_INLINE hn::Vec<DF> load_i8(DF df, const int8_t* p) {
  const hn::Rebind<int32_t, DF> di;
  const hn::Rebind<int8_t, DF> d8;
  return hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, p)));
}

// One Q8_0 block (32 values) -> out (32).
HWY_INLINE void dequantize_block_q8_0(float* out, const uint8_t* block) {
  const float d = half_to_float(block);
  const auto* q = reinterpret_cast<const int8_t*>(block + 2);
  const hn::ScalableTag<float> df;
  const size_t L = hn::Lanes(df);
  if (L <= static_cast<size_t>(kQ8_0Block) && kQ8_0Block % L == 0) {
    const auto vd = hn::Set(df, d);
    for (size_t i = 0; i < static_cast<size_t>(kQ8_0Block); i += L)
      hn::StoreU(hn::Mul(load_i8(df, q + i), vd), df, out + i);
  } else {
    for (int64_t i = 0; i < kQ8_0Block; ++i) out[i] = d * static_cast<float>(q[i]);
  }
}

// A whole row of n elements (n a multiple of the block for Q8_0) -> out (n).
HWY_INLINE void dequantize_row(float* out, StorageType t, const uint8_t* row, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  switch (t) {
    case StorageType::kF32:
      std::memcpy(out, row, static_cast<size_t>(n) * 4);
      return;
    case StorageType::kBF16: {
      int64_t i = 0;
      for (; i + L <= n; i += L) hn::StoreU(load_bf16(df, row + 2 * i), df, out + i);
      for (; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(row[2 * i] | (row[2 * i + 1] << 8)) << 16;
        std::memcpy(out + i, &bits, 4);
      }
      return;
    }
    case StorageType::kQ8_0:
      for (int64_t b = 0; b < n / kQ8_0Block; ++b)
        dequantize_block_q8_0(out + b * kQ8_0Block, row + b * kQ8_0BlockBytes);
      return;
  }
}

// Elements [start, start + count) of a row -> out (count); any alignment.
HWY_INLINE void dequantize_range(float* out, StorageType t, const uint8_t* row, int64_t start,
                                 int64_t count) {
  switch (t) {
    case StorageType::kF32:
      std::memcpy(out, row + 4 * start, static_cast<size_t>(count) * 4);
      return;
    case StorageType::kBF16:
      dequantize_row(out, t, row + 2 * start, count);
      return;
    case StorageType::kQ8_0: {
      int64_t i = 0;
      while (i < count) {
        const int64_t e = start + i, b = e / kQ8_0Block, off = e % kQ8_0Block;
        const uint8_t* block = row + b * kQ8_0BlockBytes;
        if (off == 0 && count - i >= kQ8_0Block) {
          dequantize_block_q8_0(out + i, block);
          i += kQ8_0Block;
          continue;
        }
        const float d = half_to_float(block);
        const auto* q = reinterpret_cast<const int8_t*>(block + 2);
        const int64_t take = std::min(count - i, kQ8_0Block - off);
        for (int64_t j = 0; j < take; ++j) out[i + j] = d * static_cast<float>(q[off + j]);
        i += take;
      }
      return;
    }
  }
}

// x (n) -> one stored row.
HWY_INLINE void quantize_row(uint8_t* row, StorageType t, const float* x, int64_t n) {
  switch (t) {
    case StorageType::kF32:
      std::memcpy(row, x, static_cast<size_t>(n) * 4);
      return;
    case StorageType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = float_to_bf16(x[i]);
        std::memcpy(row + 2 * i, &h, 2);
      }
      return;
    case StorageType::kQ8_0:
      for (int64_t b = 0; b < n / kQ8_0Block; ++b) {
        const float* xb = x + b * kQ8_0Block;
        uint8_t* block = row + b * kQ8_0BlockBytes;
        float amax = 0.0f;
        for (int64_t i = 0; i < kQ8_0Block; ++i) amax = std::max(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        float_to_half(block, d);
        auto* q = reinterpret_cast<int8_t*>(block + 2);
        for (int64_t i = 0; i < kQ8_0Block; ++i)
          q[i] = static_cast<int8_t>(std::lround(xb[i] * id));
      }
      return;
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE::store
HWY_AFTER_NAMESPACE();

#endif  // include guard
