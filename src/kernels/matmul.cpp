// The three products of a Linear layer as GemmArgs, run by the engine matmul_engine()
// names: the project's own dispatched GEMM (the default) or the configured BLAS library,
// in the precision matmul_precision() names (bf16 inputs always take the own GEMM: the
// BLAS library has no such product).
#include "kernels/matmul.h"

#include "kernels/gemm.h"

namespace longctx::kernels {

void gemm_by_engine(const GemmArgs& g) {
  if (matmul_engine() == MatmulEngine::kOwn || g.bf16_inputs || g.b_rows != nullptr) {
    gemm(g);
  } else {
    gemm_blas(g);
  }
}

namespace {
void run(GemmArgs g) {
  g.bf16_inputs = matmul_precision() == MatmulPrecision::kBf16;
  gemm_by_engine(g);
}
}  // namespace

void matmul_forward(float* out, const float* x, const float* w, int64_t N, int64_t K, int64_t M,
                    bool accumulate) {
  // out (N, M) = x (N, K) @ w^T, w stored (M, K)
  GemmArgs g;
  g.M = N, g.N = M, g.K = K;
  g.a = x, g.lda = K;
  g.b = w, g.ldb = K, g.trans_b = true;
  g.c = out, g.ldc = M;
  g.accumulate = accumulate;
  run(g);
}

void matmul_backward(float* dx, float* dw, const float* dout, const float* x, const float* w,
                     int64_t N, int64_t K, int64_t M, bool accumulate_dx) {
  if (N == 0 || K == 0) return;
  if (dx) {
    // dx (N, K) = dout (N, M) @ w (M, K)
    GemmArgs g;
    g.M = N, g.N = K, g.K = M;
    g.a = dout, g.lda = M;
    g.b = w, g.ldb = K;
    g.c = dx, g.ldc = K;
    g.accumulate = accumulate_dx;
    run(g);
  }
  if (dw && M > 0) {
    // dw (M, K) += dout^T (M, N) @ x (N, K)
    GemmArgs g;
    g.M = M, g.N = K, g.K = N;
    g.a = dout, g.lda = M, g.trans_a = true;
    g.b = x, g.ldb = K;
    g.c = dw, g.ldc = K;
    g.accumulate = true;
    run(g);
  }
}

}  // namespace longctx::kernels
