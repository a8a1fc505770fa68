// Measured single-precision matrix-multiply throughput of this machine (cblas_sgemm),
// the denominator of model FLOPs utilisation. Header-only so that train_step.cpp
// can measure the peak in the same process and run as the training it is compared to.
#pragma once
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/timer.h"

namespace longctx::bench {

// C (m, n) = op(A) (m, k) @ op(B) (k, n), row-major; the three forms a Linear layer
// uses: forward x @ W^T (trans_b), backward dx = dy @ W (none), dW = dy^T @ x (trans_a).
struct SgemmShape {
  std::string name;
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

struct SgemmResult {
  SgemmShape shape;
  int reps = 0;
  double best_gflops = 0, median_gflops = 0;
};

// Runs one shape for at least min_seconds (after one untimed call), per-call times.
inline SgemmResult measure_sgemm(const SgemmShape& s, double min_seconds) {
  const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
  Buffer<float> a(size_t(a_rows * a_cols)), b(size_t(b_rows * b_cols)), c(size_t(s.m * s.n));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < a.size(); ++i) a[i] = u(rng);
  for (size_t i = 0; i < b.size(); ++i) b[i] = u(rng);
  auto call = [&] {
    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                s.trans_b ? CblasTrans : CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.f, a.data(),
                int(a_cols), b.data(), int(b_cols), 0.f, c.data(), int(s.n));
  };
  call();  // warm caches, thread pool, page faults
  std::vector<double> times;
  Timer total;
  while (total.seconds() < min_seconds || times.size() < 3) {
    Timer t;
    call();
    times.push_back(t.seconds());
  }
  std::sort(times.begin(), times.end());
  SgemmResult r;
  r.shape = s;
  r.reps = int(times.size());
  r.best_gflops = s.flops() / times.front() / 1e9;
  r.median_gflops = s.flops() / times[times.size() / 2] / 1e9;
  return r;
}

// Large square products: the machine's attainable sgemm peak.
inline std::vector<SgemmShape> square_shapes(bool quick) {
  std::vector<SgemmShape> v;
  for (int64_t n : quick ? std::vector<int64_t>{2048} : std::vector<int64_t>{1024, 2048, 4096})
    v.push_back({"square " + std::to_string(n), n, n, n, false, true});
  return v;
}

// The Linear-layer products of one training step of a preset at sequence length T
// (forward, dX, dW for each weight; head in 1024-token chunks like the fused loss).
inline std::vector<SgemmShape> model_shapes(const std::string& config, int64_t T) {
  int64_t C, H, Hkv, F, V;
  if (config == "small") {
    C = 768, H = 12, Hkv = 4, F = 2048, V = 32000;
  } else {
    C = 256, H = 8, Hkv = 4, F = 688, V = 4096;
  }
  const int64_t D = C / H;
  struct W {
    const char* name;
    int64_t out, in, rows;
  };
  const W ws[] = {{"qkv", (H + 2 * Hkv) * D, C, T},
                  {"o", C, H * D, T},
                  {"gate_up", 2 * F, C, T},
                  {"down", C, F, T},
                  {"head", V, C, std::min<int64_t>(T, 1024)}};
  std::vector<SgemmShape> v;
  for (const W& w : ws) {
    const std::string p = config + " " + w.name + " ";
    v.push_back({p + "fwd", w.rows, w.out, w.in, false, true});   // y = x W^T
    v.push_back({p + "dx", w.rows, w.in, w.out, false, false});   // dx = dy W
    v.push_back({p + "dw", w.out, w.in, w.rows, true, false});    // dW = dy^T x
  }
  return v;
}

// Best attainable GFLOP/s over the square shapes.
inline double measure_peak_gflops(bool quick, double min_seconds,
                                  std::vector<SgemmResult>* all = nullptr) {
  double peak = 0;
  for (const SgemmShape& s : square_shapes(quick)) {
    SgemmResult r = measure_sgemm(s, min_seconds);
    peak = std::max(peak, r.best_gflops);
    if (all) all->push_back(r);
  }
  return peak;
}

}  // namespace longctx::bench
