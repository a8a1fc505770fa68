#include "kernels/simd.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/targets.h>

#include "core/error.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

// Each target's copy returns its own id, so dispatching it answers "which copy would a
// kernel run now" through the very mechanism the kernels use.
int64_t this_target() { return HWY_TARGET; }

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(this_target);

std::string simd_target_name(int64_t target) { return hwy::TargetName(target); }

int64_t simd_dispatched_target() { return HWY_DYNAMIC_DISPATCH(this_target)(); }

namespace {
// Bits of a target mask, best (lowest bit) first.
std::vector<int64_t> target_bits(int64_t mask) {
  std::vector<int64_t> out;
  for (int64_t m = mask; m != 0; m &= m - 1) out.push_back(m & ~(m - 1));
  return out;
}
}  // namespace

std::vector<int64_t> simd_compiled_targets() { return target_bits(HWY_TARGETS); }

std::vector<int64_t> simd_runnable_targets() {
  return target_bits(hwy::SupportedTargets() & HWY_TARGETS);
}

ScopedSimdTarget::ScopedSimdTarget(int64_t target) {
  LONGCTX_CHECK((target & HWY_TARGETS) == target && (target & (target - 1)) == 0 && target != 0,
                "ScopedSimdTarget: %s is not one target compiled into this binary",
                hwy::TargetName(target));
  LONGCTX_CHECK((hwy::SupportedTargets() & target) != 0,
                "ScopedSimdTarget: this CPU cannot run %s", hwy::TargetName(target));
  hwy::SetSupportedTargetsForTest(target);
}

ScopedSimdTarget::~ScopedSimdTarget() { hwy::SetSupportedTargetsForTest(0); }

}  // namespace longctx::kernels
#endif  // HWY_ONCE
