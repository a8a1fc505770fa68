#include "kernels/platform.h"

#include <omp.h>

#include <sstream>
#include <thread>

#include "core/cpu_features.h"
#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/simd.h"

#if defined(LONGCTX_BLAS_OPENBLAS)
extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);
extern "C" int openblas_get_parallel(void);
#elif defined(LONGCTX_BLAS_BLIS)
extern "C" char* bli_info_get_version_str(void);
extern "C" long bli_info_get_enable_openmp(void);
extern "C" long bli_info_get_enable_pthreads(void);
extern "C" int bli_arch_query_id(void);
extern "C" char* bli_arch_string(int id);
#endif

#ifndef LONGCTX_VERSION
#define LONGCTX_VERSION "unknown"
#endif
#ifndef LONGCTX_BUILD_DESCRIPTION
#define LONGCTX_BUILD_DESCRIPTION "unknown"
#endif

namespace longctx::kernels {

namespace {

void fill_blas(PlatformInfo& p) {
#if defined(LONGCTX_BLAS_OPENBLAS)
  p.blas_config = openblas_get_config();
  p.blas_core = openblas_get_corename();
  // The config string starts with "OpenBLAS <version>".
  std::istringstream words(p.blas_config);
  std::string name, version;
  words >> name >> version;
  p.blas = name + " " + version;
  switch (openblas_get_parallel()) {
    case 0: p.blas_threading = "sequential"; break;
    case 1: p.blas_threading = "pthreads"; break;
    case 2: p.blas_threading = "openmp"; break;
    default: p.blas_threading = "unknown"; break;
  }
#elif defined(LONGCTX_BLAS_BLIS)
  p.blas = std::string("BLIS ") + bli_info_get_version_str();
  p.blas_core = bli_arch_string(bli_arch_query_id());
  p.blas_threading = bli_info_get_enable_openmp()     ? "openmp"
                     : bli_info_get_enable_pthreads() ? "pthreads"
                                                      : "sequential";
  p.blas_config = p.blas + " (" + p.blas_core + ", " + p.blas_threading + ")";
#else
  p.blas = "none";
#endif
}

std::vector<std::string> names(const std::vector<int64_t>& targets) {
  std::vector<std::string> out;
  for (int64_t t : targets) out.push_back(simd_target_name(t));
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

std::string matmul_bf16_method() {
  const bool avx512 = std::string(simd_target_name(simd_dispatched_target())).rfind("AVX3", 0) == 0;
  if (avx512 && gemm_bf16_instruction()) return "vdpbf16ps (AVX512_BF16)";
  const std::string fma = "fp32 FMA on bf16-rounded operands";
  if (!cpu_features().avx512_bf16) return fma + " (no AVX512_BF16 on this CPU)";
  return fma + (avx512 ? " (the instruction is turned off)"
                       : " (the dispatched target is not AVX-512, which vdpbf16ps needs)");
}

PlatformInfo platform_info() {
  PlatformInfo p;
  p.version = LONGCTX_VERSION;
  p.build = LONGCTX_BUILD_DESCRIPTION;
  p.simd_target = simd_target_name(simd_dispatched_target());
  p.simd_compiled = names(simd_compiled_targets());
  p.simd_runnable = names(simd_runnable_targets());
  fill_blas(p);
  p.matmul_engine = matmul_engine_name(matmul_engine());
  p.matmul_precision = matmul_precision_name(matmul_precision());
  p.matmul_bf16_method = matmul_bf16_method();
  p.threads = num_threads();
  const CpuFeatures& cpu = cpu_features();
  p.cpu_vendor = cpu.vendor;
  p.cpu_model = cpu.model;
  p.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
  p.cpu_flags = cpu.flags();
  return p;
}

nlohmann::json platform_json() {
  const PlatformInfo p = platform_info();
  nlohmann::json flags = nlohmann::json::object();
  for (const auto& [name, on] : p.cpu_flags) flags[name] = on;
  return {{"longctx_version", p.version},
          {"build", p.build},
          {"simd_target", p.simd_target},
          {"simd_compiled", p.simd_compiled},
          {"simd_runnable", p.simd_runnable},
          {"blas", p.blas},
          {"blas_core", p.blas_core},
          {"blas_threading", p.blas_threading},
          {"blas_config", p.blas_config},
          {"matmul_engine", p.matmul_engine},
          {"matmul_precision", p.matmul_precision},
          {"matmul_bf16_method", p.matmul_bf16_method},
          {"threads", p.threads},
          {"cpu_vendor", p.cpu_vendor},
          {"cpu_model", p.cpu_model},
          {"logical_cpus", p.logical_cpus},
          {"cpu_flags", flags}};
}

std::string platform_text() {
  const PlatformInfo p = platform_info();
  std::vector<std::string> present, absent;
  for (const auto& [name, on] : p.cpu_flags) (on ? present : absent).push_back(name);
  std::ostringstream out;
  out << "longctx " << p.version << "\n"
      << "build:          " << p.build << "\n"
      << "SIMD target:    " << p.simd_target << " (dispatched at run time)\n"
      << "SIMD compiled:  " << join(p.simd_compiled) << "\n"
      << "SIMD runnable:  " << join(p.simd_runnable) << "\n"
      << "BLAS:           " << p.blas << ", kernel " << (p.blas_core.empty() ? "?" : p.blas_core)
      << ", " << p.blas_threading << " threading\n"
      << "BLAS config:    " << p.blas_config << "\n"
      << "matmul engine:  " << p.matmul_engine
      << (p.matmul_engine == "own" ? " (longctx's dispatched GEMM; LONGCTX_MATMUL=blas switches)"
                                   : " (the BLAS library; LONGCTX_MATMUL=own switches)")
      << "\n"
      << "matmul inputs:  " << p.matmul_precision
      << (p.matmul_precision == "fp32"
              ? " (LONGCTX_MATMUL_PRECISION=bf16 or train --matmul-precision bf16: bf16 operands)"
              : " (bf16 operands in the GEMM and attention's tiles, fp32 accumulation)")
      << "\n"
      << "bf16 products:  " << p.matmul_bf16_method << "\n"
      << "threads:        " << p.threads << " (of " << p.logical_cpus << " logical CPUs)\n"
      << "CPU:            " << p.cpu_model << " (" << p.cpu_vendor << ")\n"
      << "CPU has:        " << join(present) << "\n"
      << "CPU lacks:      " << join(absent) << "\n";
  return out.str();
}

}  // namespace longctx::kernels
