#include "kernels/embedding.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace longctx::kernels {

void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int64_t C,
                       int64_t V) {
  // Validate first so a bad token throws before any thread starts (no throw inside omp).
  for (int64_t n = 0; n < N; ++n)
    LONGCTX_CHECK(tokens[n] >= 0 && tokens[n] < V,
                  "embedding_forward: token %d at row %ld is outside the vocabulary [0, %ld)",
                  tokens[n], static_cast<long>(n), static_cast<long>(V));
#pragma omp parallel for schedule(static) if (N * C > (1 << 16))
  for (int64_t n = 0; n < N; ++n)
    std::memcpy(out + n * C, table + static_cast<int64_t>(tokens[n]) * C,
                static_cast<size_t>(C) * sizeof(float));
}

// Threads own disjoint column blocks and each walks the rows in order, so two rows
// with the same token never race and every sum has the same order for any thread count.
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N,
                        int64_t C) {
  constexpr int64_t kBlock = 64;
  const int64_t n_blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (N * C > (1 << 16))
  for (int64_t blk = 0; blk < n_blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    for (int64_t n = 0; n < N; ++n) {
      float* dst = dtable + static_cast<int64_t>(tokens[n]) * C;
      const float* src = dout + n * C;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

}  // namespace longctx::kernels
