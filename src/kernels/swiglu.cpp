// SwiGLU, compiled once per SIMD target and dispatched at run time (kernels/simd.h).
#include "kernels/swiglu.h"

#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/swiglu.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void swiglu_forward_target(float* out, const float* gate_up, int64_t N, int64_t H) {
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
void swiglu_backward_target(float* dgate_up, const float* dout, const float* gate_up, int64_t N,
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

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(swiglu_forward_target);
HWY_EXPORT(swiglu_backward_target);

void swiglu_forward(float* out, const float* gate_up, int64_t N, int64_t H) {
  HWY_DYNAMIC_DISPATCH(swiglu_forward_target)(out, gate_up, N, H);
}

void swiglu_backward(float* dgate_up, const float* dout, const float* gate_up, int64_t N,
                     int64_t H) {
  HWY_DYNAMIC_DISPATCH(swiglu_backward_target)(dgate_up, dout, gate_up, N, H);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
