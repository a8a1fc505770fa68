// Element storage for inference weights and KV caches: f32, bf16 and GGML's Q8_0 blocks.
// A "row" is a run of n elements stored back to back; Q8_0 rows need n % 32 == 0 and
// are n/32 blocks of {f16 scale d, 32 x int8 q}, value = d * q (34 bytes per block,
// byte-identical to GGUF's Q8_0, so weights are used in place from a mapped file).
// Quantisation follows ggml's reference: d = max|x| / 127, q = round(x / d).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace longctx::kernels {

enum class StorageType { kF32, kBF16, kQ8_0 };

constexpr int64_t kQ8_0Block = 32;         // elements per Q8_0 block
constexpr size_t kQ8_0BlockBytes = 34;     // f16 scale + 32 int8

// Rows of one sequence's keys (or values) in a KV cache: row t (n_kv_heads * head_dim
// elements) at data + t * row_bytes, stored as `type`.
struct KvRowsView {
  StorageType type = StorageType::kF32;
  const void* data = nullptr;
  size_t row_bytes = 0;
};

// "f32", "bf16", "q8_0".
const char* storage_type_name(StorageType t);
// Accepts the names above (case-insensitive, also "q8" and "fp32"); throws Error naming
// `what` (a flag or field) and the accepted names otherwise.
StorageType parse_storage_type(std::string_view text, const std::string& what);
// Bytes of a row of n elements; throws Error when n is not a multiple of the block size.
size_t storage_row_bytes(StorageType t, int64_t n);
// Bytes per element averaged over a row (4, 2, 34/32) for memory plans.
double storage_bytes_per_element(StorageType t);

// rows x n elements: out rows (row_bytes apart, see storage_row_bytes) <- x (rows, n).
void quantize_rows(void* out, StorageType t, const float* x, int64_t rows, int64_t n);
// out (rows, n) <- rows of n elements stored in t, src_row_bytes apart.
void dequantize_rows(float* out, StorageType t, const void* src, size_t src_row_bytes,
                     int64_t rows, int64_t n);
// Elements [start, start + count) of one stored row (any alignment, also inside a Q8_0
// block): out (count).
void dequantize_range(float* out, StorageType t, const void* row, int64_t start, int64_t count);

}  // namespace longctx::kernels
