// Start-up check of the instruction-set baseline the binary was compiled for
// (CMakeLists.txt, LONGCTX_ARCH): on an older CPU the program would otherwise die
// with SIGILL somewhere in its first lines. This runs as the first constructor
// (priority 101, before any C++ static initialiser of the program) and is itself
// compiled for plain x86-64, so it can always print its message.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cstdio>
#include <cstdlib>

namespace {

#if defined(__AVX2__)
#define LONGCTX_BASELINE_NAME "x86-64-v3 (AVX2, FMA, BMI2, F16C)"
#elif defined(__SSE4_2__)
#define LONGCTX_BASELINE_NAME "x86-64-v2 (SSE4.2, POPCNT)"
#endif

__attribute__((constructor(101), target("arch=x86-64"))) void check_cpu_baseline() {
#if defined(LONGCTX_BASELINE_NAME)
  __builtin_cpu_init();
#if defined(__AVX2__)
  // (F16C, also in the baseline, comes with every AVX2 CPU; clang 14 cannot query it.)
  const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi2");
#else
  const bool ok = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
#endif
  if (!ok) {
    std::fputs("longctx: error: this binary was built for the " LONGCTX_BASELINE_NAME
               " baseline, which this CPU lacks; rebuild with "
               "cmake -DLONGCTX_ARCH=x86-64-v2 (or native)\n",
               stderr);
    std::_Exit(1);
  }
#endif
}

}  // namespace
#endif
