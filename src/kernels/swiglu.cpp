#include "kernels/swiglu.h"

#include <vector>

#include "kernels/vec_math.h"

namespace longctx::kernels {

void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t H) {
#pragma omp parallel if (N * H > (1 << 15))
  {
    std::vector<float> sig(static_cast<size_t>(H));  // (H) sigmoid(gate) of the current row
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* g = gate_up + n * 2 * H;
      const float* u = g + H;
      vec::sigmoid(sig.data(), g, H);
      float* o = out + n * H;
      for (int64_t h = 0; h < H; ++h) o[h] = g[h] * sig[static_cast<size_t>(h)] * u[h];
    }
  }
}

// d gate = dout * up * s * (1 + g (1 - s)); d up = dout * g * s, with s = sigmoid(g).
void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t N,
                     int64_t H) {
#pragma omp parallel if (N * H > (1 << 15))
  {
    std::vector<float> sig(static_cast<size_t>(H));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* g = gate_up + n * 2 * H;
      const float* u = g + H;
      const float* d = dout + n * H;
      vec::sigmoid(sig.data(), g, H);
      float* dg = dgate_up + n * 2 * H;
      float* du = dg + H;
      for (int64_t h = 0; h < H; ++h) {
        const float s = sig[static_cast<size_t>(h)];
        dg[h] = d[h] * u[h] * s * (1.0f + g[h] * (1.0f - s));
        du[h] = d[h] * g[h] * s;
      }
    }
  }
}

}  // namespace longctx::kernels
