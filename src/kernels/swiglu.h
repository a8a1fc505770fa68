#pragma once
#include <cstdint>

namespace longctx::kernels {

// gate_up (N, 2H): per row, the first H values are the gate (x @ w1^T), the next H
// the up projection (x @ w3^T). out (N, H) = silu(gate) * up.
void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t H);
// dgate_up (N, 2H) =.
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t N, int64_t H);

}  // namespace longctx::kernels
