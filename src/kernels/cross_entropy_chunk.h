// How the fused lm-head cross-entropy splits tokens into chunks. Exposed so tests
// (and memory planners) can see the scratch bound: the kernels allocate exactly one
// (rows x V) float block, never (N x V).
#pragma once
#include <cstddef>
#include <cstdint>

namespace longctx::kernels {

// Scratch budget for the automatic chunk size (chunk = 0): 32 MiB of logits.
constexpr size_t kLmHeadAutoScratchBytes = size_t{32} << 20;

// Tokens per chunk the kernels use for (N, V, requested chunk): the request clamped to
// [1, N], or for chunk = 0 as many rows as fit the budget (at least 1). Throws Error for
// chunk < 0.
int64_t lm_head_chunk_rows(int64_t N, int64_t V, int64_t chunk);

// Floats of scratch the kernels allocate for these arguments: rows * V.
inline int64_t lm_head_scratch_floats(int64_t N, int64_t V, int64_t chunk) {
  return N > 0 ? lm_head_chunk_rows(N, V, chunk) * V : 0;
}

}  // namespace longctx::kernels
