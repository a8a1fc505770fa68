// Internal to the kernels: bf16 operand pairs, the layout the bf16 dot-product instruction
// (AVX512_BF16 vdpbf16ps) multiplies: two bf16 values in one 32-bit word, the lower half
// first, each fp32 lane of the instruction adding lo_a * lo_b + hi_a * hi_b. The own GEMM's
// bf16 panels (gemm_bf16-inl.h) and the attention's bf16 tiles (attention_bf16-inl.h) are
// built from these. Rounding is nearest, ties to even, exactly as store::float_to_bf16
// (NaN kept quiet). Compiled once per Highway target (per-target include guard, Highway's
// -inl.h pattern); the lane count is the target's.
#if defined(LONGCTX_KERNELS_BF16_PAIRS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LONGCTX_KERNELS_BF16_PAIRS_INL_H_
#undef LONGCTX_KERNELS_BF16_PAIRS_INL_H_
#else
#define LONGCTX_KERNELS_BF16_PAIRS_INL_H_
#endif

#include <hwy/highway.h>

#include <cstdint>

#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE::bf16_pairs {

namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE uint32_t pair(float lo, float hi) {
  return uint32_t{store::float_to_bf16(lo)} | uint32_t{store::float_to_bf16(hi)} << 16;
}

// Per lane, x rounded to bf16 in the upper 16 bits (the lower 16 bits are not zeroed).
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> rounded_high(DF df, hn::Vec<DF> x) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto u = hn::BitCast(du, x);
  const auto rounded =
      hn::Add(u, hn::Add(hn::Set(du, 0x7fffu), hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u))));
  const auto nan = hn::RebindMask(
      du, hn::Gt(hn::BitCast(di, hn::And(u, hn::Set(du, 0x7fffffffu))), hn::Set(di, 0x7f800000)));
  (void)df;
  return hn::IfThenElse(nan, hn::Or(u, hn::Set(du, 0x00400000u)), rounded);
}

// out[i] = pair(lo[i], hi[i]) for i < n: the operands of two depths at the same positions
// of two rows. lo or hi null stands for a row of zeros.
inline void pair_rows(uint32_t* HWY_RESTRICT out, const float* HWY_RESTRICT lo,
                      const float* HWY_RESTRICT hi, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto l = lo ? hn::ShiftRight<16>(rounded_high(d, hn::LoadU(d, lo + i))) : hn::Zero(du);
    const auto h = hi ? hn::And(rounded_high(d, hn::LoadU(d, hi + i)), hn::Set(du, 0xffff0000u))
                      : hn::Zero(du);
    hn::StoreU(hn::Or(l, h), du, out + i);
  }
  for (; i < n; ++i) out[i] = pair(lo ? lo[i] : 0.0f, hi ? hi[i] : 0.0f);
}

#if HWY_TARGET != HWY_SCALAR
// The Lanes pairs of 2 * Lanes consecutive floats (consecutive floats rounded to
// consecutive bf16 values are the pairs).
HWY_INLINE hn::Vec<hn::ScalableTag<uint32_t>> adjacent_pairs(const float* HWY_RESTRICT src) {
  const hn::ScalableTag<float> d;
  const hn::ScalableTag<uint32_t> du;
  const hn::Repartition<uint16_t, decltype(d)> d16;
  const auto r0 = hn::BitCast(d16, rounded_high(d, hn::LoadU(d, src)));
  const auto r1 = hn::BitCast(d16, rounded_high(d, hn::LoadU(d, src + hn::Lanes(d))));
  return hn::BitCast(du, hn::ConcatOdd(d16, r1, r0));
}
#endif

// out[k] = pair(src[2k], src[2k+1]) for the n / 2 whole pairs of a row, and
// pair(src[n-1], 0) when n is odd: (n + 1) / 2 words.
inline void pair_adjacent(uint32_t* HWY_RESTRICT out, const float* HWY_RESTRICT src, int64_t n) {
  int64_t k = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<uint32_t> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  for (; 2 * k + 2 * N <= n; k += N) hn::StoreU(adjacent_pairs(src + 2 * k), du, out + k);
#endif
  for (; 2 * k + 1 < n; ++k) out[k] = pair(src[2 * k], src[2 * k + 1]);
  if (n % 2) out[n / 2] = pair(src[n - 1], 0.0f);
}

}  // namespace longctx::kernels::HWY_NAMESPACE::bf16_pairs
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
