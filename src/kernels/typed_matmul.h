// Matrix products against inference weights stored as f32, bf16 or Q8_0 rows (for
// instance in place inside a memory-mapped GGUF file).
//
// Two regimes, one entry point:
// - few rows of x (decode: one row per active sequence, N <= kMatvecMaxRows): SIMD
//   matrix-vector kernels that read every weight row once and convert it on the fly,
//   multiplying it with all N rows of x while it is in registers/L1. Decode is bound by
//   the memory traffic of the weights, so N sequences cost about as much as one. Against
//   Q8_0 weights the rows of x are quantised to Q8 blocks first (as llama.cpp's q8_0 dot
//   product does) and each block is an integer dot product: the kernel would otherwise
//   be bound by widening every weight to float, not by memory.
// - many rows (prefill chunks): the matrix product of the engine in use (kernels/matmul.h).
//   The own GEMM reads bf16/Q8_0 weights in place and converts each row segment while it
//   packs it (GemmArgs::b_rows), once per product, shared by the threads; with the BLAS
//   engine they are converted panel by panel (kPanelRows rows) into f32 first. Either way
//   the conversion is amortised over the N rows.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/storage_type.h"

namespace longctx::kernels {

// (rows, cols) matrix stored row by row, rows row_bytes apart (storage_row_bytes(type, cols)
// when dense). Like a PyTorch Linear weight: out = x @ W^T.
struct TypedMatrix {
  StorageType type = StorageType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;  // M, output features
  int64_t cols = 0;  // K, input features
  size_t row_bytes = 0;
  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes;
  }
};

// Rows of x quantised per 32-value block for the Q8_0 matrix-vector kernel: block b of row
// j is q[j*K + 32b, +32) x d[j*K/32 + b], q in [-127, 127], d = max|x| / 127
// of the block, q = round-to-nearest-even(x / d); K a multiple of 32.
struct Q8Activations {
  const int8_t* q = nullptr;   // (N, K)
  const float* d = nullptr;    // (N, K / 32)
  int64_t K = 0;
  Q8Activations rows_from(int64_t j) const { return {q + j * K, d + j * (K / 32), K}; }
};

// Owns the storage of a Q8Activations (kept between calls, no allocation per step).
class Q8ActivationBuffer {
 public:
  // x (N, K) -> its quantised form, valid until the next call.
  const Q8Activations& quantize(const float* x, int64_t N, int64_t K);

 private:
  std::vector<int8_t> q_;
  std::vector<float> d_;
  Q8Activations view_;
};

// A dense TypedMatrix over data; checks cols against the type's block size.
TypedMatrix typed_matrix(StorageType type, const void* data, int64_t rows, int64_t cols);

constexpr int64_t kMatvecMaxRows = 16;  // N above this takes the panel + BLAS path
constexpr int64_t kPanelRows = 256;     // weight rows converted per BLAS call (BLAS engine)

// out (N, ldo): columns [0, w.rows) of each row = x (N, w.cols) @ w^T, or += when
// accumulate; other columns untouched (ldo >= w.rows lets fused outputs share a buffer).
void typed_matmul(float* out, int64_t ldo, const float* x, int64_t N, const TypedMatrix& w,
                  bool accumulate = false);

// Row r of w -> out (w.cols) in f32 (embedding lookups in a typed table).
void typed_row(float* out, const TypedMatrix& w, int64_t r);

}  // namespace longctx::kernels
