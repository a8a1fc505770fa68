// All products go through cblas_sgemm (the backend, OpenBLAS or BLIS, is picked in
// CMakeLists.txt). Row-major throughout; w is (M, K) like a PyTorch Linear weight.
#include "kernels/matmul.h"

#include <cblas.h>

namespace longctx::kernels {

void matmul_forward(float* out, const float* x, const float* w, int64_t N, int64_t K, int64_t M,
                    bool accumulate) {
  if (N == 0 || M == 0) return;
  // out (N, M) = x (N, K) @ w^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(N), static_cast<int>(M),
              static_cast<int>(K), 1.0f, x, static_cast<int>(K), w, static_cast<int>(K),
              accumulate ? 1.0f : 0.0f, out, static_cast<int>(M));
}

void matmul_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t K, int64_t M, bool accumulate_dx) {
  if (N == 0 || K == 0) return;
  if (dx) {
    // dx (N, K) = dout (N, M) @ w (M, K)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(N),
                static_cast<int>(K), static_cast<int>(M), 1.0f, dout, static_cast<int>(M), w,
                static_cast<int>(K), accumulate_dx ? 1.0f : 0.0f, dx, static_cast<int>(K));
  }
  if (dw && M > 0) {
    // dw (M, K) += dout^T (M, N) @ x (N, K)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(K),
                static_cast<int>(N), 1.0f, dout, static_cast<int>(M), x, static_cast<int>(K), 1.0f,
                dw, static_cast<int>(K));
  }
}

}  // namespace longctx::kernels
