// Everything that decides how fast (and with which rounding) the kernels run on this
// machine, in one place: longctx version and build, the SIMD target the dispatched
// kernels use and the ones compiled in, the BLAS library with its kernel and
// threading, the thread count, and the CPU's relevant features. `longctx info`
// prints it; every benchmark writes platform_json() beside its figures so results
// from different machines are never mixed up.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace longctx::kernels {

struct PlatformInfo {
  std::string version;         // longctx version (CMake project version)
  std::string build;           // compiler, build type, instruction-set baseline
  std::string simd_target;     // target the dispatched kernels run now
  std::vector<std::string> simd_compiled;  // compiled into this binary, best first
  std::vector<std::string> simd_runnable;  // of those, what this CPU runs
  std::string blas;            // "OpenBLAS 0.3.21", "BLIS 0.9.0"
  std::string blas_config;     // the library's own build description
  std::string blas_core;       // the kernel set it chose for this CPU ("Haswell", "zen3"...)
  std::string blas_threading;  // "openmp", "pthreads" or "sequential"
  std::string matmul_engine;   // what the model's matrix products run on: "own" or "blas"
  std::string matmul_precision;  // what they multiply in: "fp32" or "bf16" (bf16 operands)
  std::string matmul_bf16_method;  // how bf16 operands are multiplied on this CPU and target
  int threads = 0;             // OpenMP / BLAS threads longctx uses
  std::string cpu_vendor, cpu_model;
  int logical_cpus = 0;
  std::vector<std::pair<std::string, bool>> cpu_flags;
};

PlatformInfo platform_info();
nlohmann::json platform_json();
// How the own GEMM multiplies bf16 operands here: "vdpbf16ps (AVX512_BF16)" on an AVX-512
// target of a CPU with the instruction, else fp32 FMAs on the rounded operands.
std::string matmul_bf16_method();
// Human-readable, one fact per line.
std::string platform_text();

}  // namespace longctx::kernels
