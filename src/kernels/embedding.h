#pragma once
#include <cstdint>

namespace longctx::kernels {

// out (N, C) = table[tokens[n]]. Throws Error if a token is outside [0, V).
void embedding_forward(float* out, const int32_t* tokens, const float* table, int64_t N, int64_t C,
                       int64_t V);
// dtable (V, C) += scatter of dout (N, C) by token.
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int64_t N,
                        int64_t C);

}  // namespace longctx::kernels
