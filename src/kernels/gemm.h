// The project's own single-precision matrix product, for every shape a training step,
// a prefill or a decode step uses, compiled once per SIMD target (Highway) and
// dispatched at run time like the other kernels, so its speed does not depend on
// what a BLAS library detects (or is told through OPENBLAS_CORETYPE).
//
// Goto/BLIS structure: B is packed in (KC x NR) micro-panels, A in (MR x KC) ones,
// and an MR x NR register-blocked micro-kernel accumulates with FMA (AVX2: 6 x 16,
// AVX-512: 12 x 32, scalar fallback: 4 x 2). With bf16 inputs on a CPU with AVX512_BF16
// the panels hold pairs of bf16 operands of adjacent depths and a 12 x 32 micro-kernel
// multiplies them with vdpbf16ps (twice the products per instruction). Blocks: KC = 256 depth (one B micro-panel
// in L1), MC rows of A per block (L2), NC = 4096 columns of B per block (L3). Threads
// of the one OpenMP pool share the packed B block and each packs its own A blocks.
//
// Deterministic: every element of C is computed by exactly one thread, its k terms
// summed in one fixed order (KC blocks in order, each block's terms in order), so the
// result is bit-identical for any thread count. Row counts up to kGemvRows (decode,
// one token at a time) skip packing: dot products / row updates straight from memory.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/storage_type.h"

namespace longctx::kernels {

// C (M, N) = or += op(A) (M, K) @ op(B) (K, N); all row-major with leading dimensions.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* a = nullptr;  // (M, K) with row stride lda, or (K, M) when trans_a
  int64_t lda = 0;
  bool trans_a = false;
  const float* b = nullptr;  // (K, N) with row stride ldb, or (N, K) when trans_b
  int64_t ldb = 0;
  bool trans_b = false;
  float* c = nullptr;  // (M, N) with row stride ldc
  int64_t ldc = 0;
  bool accumulate = false;  // C += op(A) op(B) instead of C = op(A) op(B)
  // Mixed precision: every element of op(A) and op(B) is rounded to bf16 (nearest, ties to
  // even) before it is multiplied; products and sums stay fp32. Own engine only. The
  // products of two bf16 values are exact in fp32, so this is what a bf16 dot-product
  // instruction (AVX512_BF16 vdpbf16ps) computes, up to the order of the fp32 sums.
  bool bf16_inputs = false;
  // B as typed rows (inference weights stored as bf16 or Q8_0, used in place): with
  // trans_b only, row n of the stored (N, K) matrix is b_rows + n * b_row_bytes in b_type,
  // converted to f32 while its panels are packed (b and ldb are then unused). Each row
  // is converted once per product instead of into an f32 copy of the whole matrix, and
  // the threads share the conversion. Own engine only; the result is bit-identical to the
  // product with the converted matrix as b.
  const void* b_rows = nullptr;
  StorageType b_type = StorageType::kF32;
  size_t b_row_bytes = 0;
};

// Own kernels (dispatched to the best SIMD target). Throws Error on inconsistent
// arguments (negative sizes, leading dimensions too small, null pointers).
void gemm(const GemmArgs& args);

// Upper bound of the bytes gemm allocates while it runs an (M, N, K) product on n_threads
// threads, on any SIMD target (memory plans): the packed block of B (at most 256 x 4096
// floats, 4 MiB) and each thread's packed block of A.
size_t gemm_scratch_bytes(int64_t M, int64_t N, int64_t K, int n_threads);

// The same product through the BLAS library chosen at configure time (cblas_sgemm):
// the reference for tests and benchmarks.
void gemm_blas(const GemmArgs& args);

// Whether products with bf16 inputs use the CPU's bf16 dot-product instruction
// (AVX512_BF16 vdpbf16ps, on the AVX-512 targets): true when the CPU has it, unless
// set_gemm_bf16_instruction(false) turned it off (tests and benchmarks compare the two
// ways). Without it, bf16 inputs are fp32 FMAs on rounded operands: the same products,
// the sums in a different order.
bool gemm_bf16_instruction();
void set_gemm_bf16_instruction(bool allowed);

// Depth (K) of one packed block: a product's C is read and written once per block, so
// callers that choose K (the fused loss's chunk rows) prefer multiples of it.
constexpr int64_t kGemmDepthBlock = 256;

// Rows handled without packing (decode steps, tiny batches).
constexpr int64_t kGemvRows = 4;

// The precision matmul_forward / matmul_backward multiply in: fp32, or bf16 inputs with
// fp32 accumulation (GemmArgs::bf16_inputs; fp32 master weights and activations stay
// as they are, only the products see bf16 operands). The default is fp32; the
// environment variable LONGCTX_MATMUL_PRECISION=fp32|bf16 sets it at start-up,
// set_matmul_precision() (the trainer's --matmul-precision) changes it.
enum class MatmulPrecision { kF32, kBf16 };
MatmulPrecision matmul_precision();
void set_matmul_precision(MatmulPrecision precision);
const char* matmul_precision_name(MatmulPrecision precision);  // "fp32" | "bf16"
// "fp32" | "bf16" -> precision; Error naming `what` (a flag or variable) otherwise.
MatmulPrecision parse_matmul_precision(const char* text, const char* what);

// Which implementation matmul_forward / matmul_backward use. The default is kOwn;
// the environment variable LONGCTX_MATMUL=blas|own sets it at start-up, and
// set_matmul_engine() changes it (not while a product runs).
enum class MatmulEngine { kOwn, kBlas };
MatmulEngine matmul_engine();
void set_matmul_engine(MatmulEngine engine);
const char* matmul_engine_name(MatmulEngine engine);
// "own" | "blas" -> engine; Error naming `what` (a flag or variable) otherwise.
MatmulEngine parse_matmul_engine(const char* text, const char* what);

}  // namespace longctx::kernels
