#include "train/flops.h"

#include <algorithm>
#include <random>

#include "core/buffer.h"
#include "core/timer.h"
#include "kernels/matmul.h"

namespace longctx::train {

double model_flops_per_token(const model::ModelConfig& c, int64_t T) {
  const double C = double(c.dim), D = double(c.resolved_head_dim());
  const double qkv = double(c.n_heads + 2 * c.n_kv_heads) * D * C;
  const double per_layer = qkv + double(c.n_heads) * D * C + 3.0 * double(c.ffn_dim) * C;
  const double weights = double(c.n_layers) * per_layer + double(c.vocab_size) * C;
  return 6.0 * weights + 6.0 * double(c.n_layers) * C * double(T);
}

double measure_matmul_gflops(int64_t n, double min_seconds) {
  Buffer<float> a(size_t(n * n)), b(size_t(n * n)), c(size_t(n * n));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = u(rng), b[i] = u(rng);
  kernels::matmul_forward(c.data(), a.data(), b.data(), n, n, n);  // warm caches and threads
  double best = 1e30;
  Timer total;
  int reps = 0;
  while (total.seconds() < min_seconds || reps < 3) {
    Timer t;
    kernels::matmul_forward(c.data(), a.data(), b.data(), n, n, n);
    best = std::min(best, t.seconds());
    ++reps;
  }
  return 2.0 * double(n) * double(n) * double(n) / best / 1e9;
}

}  // namespace longctx::train
