// Which SIMD code the kernels run. The hand-written SIMD kernels (attention,
// RMSNorm, SwiGLU, the softmax of the cross-entropy, elementwise ops) are
// compiled once per Highway target (foreach_target.h) and each call dispatches
// to the best target this CPU supports (HWY_DYNAMIC_DISPATCH), so one binary
// uses 512-bit vectors on an AVX-512 machine and 256-bit ones on an AVX2-only
// machine. Which targets are compiled is decided in CMakeLists.txt (one policy
// for the whole tree): the best ones for the chosen baseline plus the scalar
// fallback, which the tests run too.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longctx::kernels {

// Highway's name of one target bit ("AVX3", "AVX2", "SCALAR", ...).
std::string simd_target_name(int64_t target);
// The target the dispatched kernels run on this CPU now.
int64_t simd_dispatched_target();
// Every target compiled into this binary, best first.
std::vector<int64_t> simd_compiled_targets();
// Compiled targets this CPU can run, best first. Tests run each kernel once per entry.
std::vector<int64_t> simd_runnable_targets();

// Restricts dispatch to one compiled, runnable target for the guard's lifetime (tests and
// benchmarks comparing targets). Not thread-safe: only while no kernel runs.
class ScopedSimdTarget {
 public:
  explicit ScopedSimdTarget(int64_t target);
  ~ScopedSimdTarget();
  ScopedSimdTarget(const ScopedSimdTarget&) = delete;
  ScopedSimdTarget& operator=(const ScopedSimdTarget&) = delete;
};

}  // namespace longctx::kernels
