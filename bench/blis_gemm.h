// BLIS as a further matrix-product engine for the benchmarks (issue 15 asks for the own
// GEMM against OpenBLAS *and* BLIS), loaded at run time from Debian's OpenMP build so one
// binary, linked against OpenBLAS, measures both libraries side by side in one process.
//
// RTLD_DEEPBIND makes BLIS resolve its own symbols first: without it, BLIS's internal
// calls to names both libraries export (sgemm_, xerbla_) could land in OpenBLAS, which is
// already loaded, and the "BLIS" column would measure OpenBLAS. measure_gemm_rates()
// compares every engine's C with the first one's, so a wrong binding also shows as a
// difference, not only as a suspicious speed.
#pragma once
#include <dlfcn.h>

#include <cstdint>
#include <string>

#include "kernels/gemm.h"
#include "kernels/gemm_rate.h"

namespace longctx::bench {

// Debian's libblis4-openmp (pulled in by libblis-dev, which scripts/install-deps.sh installs).
inline const char* kDefaultBlisPath = "/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4";

struct BlisLibrary {
  bool loaded = false;
  std::string path, version, config;  // config: the kernel set BLIS chose for this CPU
  std::string error;                  // why it did not load
};

namespace blis_detail {
// CBLAS enums as plain ints (the values every cblas.h uses).
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float* a, int lda, const float* b, int ldb, float beta, float* c,
                         int ldc);
inline SgemmFn& sgemm() {
  static SgemmFn fn = nullptr;
  return fn;
}
inline void run(const kernels::GemmArgs& g) {
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
  sgemm()(kRowMajor, g.trans_a ? kTrans : kNoTrans, g.trans_b ? kTrans : kNoTrans, int(g.M),
          int(g.N), int(g.K), 1.0f, g.a, int(g.lda), g.b, int(g.ldb), g.accumulate ? 1.0f : 0.0f,
          g.c, int(g.ldc));
}
}  // namespace blis_detail

// Loads BLIS from `path` and sets its thread count; the first call decides (later calls
// return the same result). Never throws: a missing library is reported in .error.
inline const BlisLibrary& load_blis(const std::string& path, int threads) {
  static BlisLibrary lib = [&] {
    BlisLibrary l;
    l.path = path;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
      const char* why = dlerror();
      l.error = why ? why : "dlopen failed";
      return l;
    }
    auto sym = [&](const char* name) { return dlsym(h, name); };
    blis_detail::sgemm() = reinterpret_cast<blis_detail::SgemmFn>(sym("cblas_sgemm"));
    auto set_threads = reinterpret_cast<void (*)(int64_t)>(sym("bli_thread_set_num_threads"));
    auto arch_id = reinterpret_cast<int (*)()>(sym("bli_arch_query_id"));
    auto arch_name = reinterpret_cast<const char* (*)(int)>(sym("bli_arch_string"));
    auto version = reinterpret_cast<const char* (*)()>(sym("bli_info_get_version_str"));
    if (!blis_detail::sgemm() || !set_threads) {
      l.error = path + " has no cblas_sgemm / bli_thread_set_num_threads";
      return l;
    }
    set_threads(threads);
    l.version = version ? version() : "?";
    l.config = arch_id && arch_name ? arch_name(arch_id()) : "?";
    l.loaded = true;
    return l;
  }();
  return lib;
}

// The loaded library as a measurable engine ("blis"); call load_blis first.
inline kernels::GemmCandidate blis_candidate() { return {"blis", &blis_detail::run}; }

}  // namespace longctx::bench
