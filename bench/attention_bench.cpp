// Micro benchmark of the tiled causal GQA attention kernels: GFLOP/s of the
// forward and backward with causal FLOP counts (forward 2*T^2*D*H: QK^T and PV
// are 2*T^2*D each per head, halved by causality; backward 2.5x the forward).
//
// Usage: attention_bench [--target NAME] [--json out.jsonl] [--bf16]   (two reference configurations)
//        attention_bench [--target NAME] [--json out.jsonl] [--bf16] [--tq M] T H Hkv D [reps] [threads]
// --tq M times the forward alone for the last M query rows against all T keys: one chunk of
// a chunked prefill at depth T (the inference case; FLOPs counted for the visible pairs).
// --bf16 runs the tile products with bf16 inputs (AttentionShape::bf16_products, as training
// with --matmul-precision bf16 does).
// --target pins the SIMD target (AVX3, AVX2, SCALAR, ... as `longctx info` lists them);
// --json appends one line per configuration with the machine's platform facts.
//
// Measured 2026-11-27 on the 2-core AVX2+FMA build machine (AMD EPYC VM,
// Release, -march=native, tiles of 128 query rows x 128 keys), while other
// jobs kept the load average at 5-9, so wall times are pessimistic and the
// 2-thread runs gained nothing over 1 thread (a thread waiting at a barrier for
// its descheduled partner). Per CPU-second at 1 thread, i.e. per core:
//   B=1 H=8  Hkv=4 D=32 T=4096:  forward ~56 GFLOP/s, backward ~69 GFLOP/s
//   B=1 H=12 Hkv=4 D=64 T=2048:  forward ~67 GFLOP/s, backward ~72 GFLOP/s
//   B=1 H=2  Hkv=1 D=32 T=32768: forward ~53 GFLOP/s, backward ~72 GFLOP/s
// Wall clock, 2 threads, same load: 30-32 / 39-40 (D=32) and 36-37 / 40-42 (D=64).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/attention.h"
#include "kernels/platform.h"
#include "kernels/simd.h"

namespace {

// CPU seconds of all threads of this process: with other jobs on the same cores,
// wall time overstates the kernel's cost, CPU time much less so.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Config {
  int64_t T;
  int H, Hkv, D;
  int64_t T_q = 0;  // 0: T (training shape, forward and backward); else forward of one chunk
};

nlohmann::json run(const Config& c, int reps, bool bf16) {
  longctx::kernels::AttentionShape s;
  s.bf16_products = bf16;
  s.B = 1;
  const bool chunk = c.T_q > 0 && c.T_q < c.T;
  s.T_kv = c.T;
  s.T_q = chunk ? c.T_q : c.T;
  s.n_heads = c.H;
  s.n_kv_heads = c.Hkv;
  s.head_dim = c.D;
  const size_t nq = static_cast<size_t>(s.T_q) * c.H * c.D, nkv = static_cast<size_t>(c.T) * c.Hkv * c.D;
  std::vector<float> q(nq), k(nkv), v(nkv), out(nq), dout(nq), dq(nq), dk(nkv), dv(nkv);
  std::vector<float> lse(static_cast<size_t>(s.T_q) * c.H);
  uint32_t state = 12345;
  auto rnd = [&]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  };
  for (auto* vec : {&q, &k, &v, &dout})
    for (float& x : *vec) x = rnd();
  double best_f = 1e30, best_b = 1e30, cpu_f = 1e30, cpu_b = 1e30;
  for (int r = 0; r < reps; ++r) {
    longctx::Timer t;
    double c0 = cpu_seconds();
    longctx::kernels::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), s);
    best_f = std::min(best_f, t.seconds());
    cpu_f = std::min(cpu_f, cpu_seconds() - c0);
    if (chunk) continue;  // inference: no backward
    t.reset();
    c0 = cpu_seconds();
    longctx::kernels::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(),
                                         lse.data(), q.data(), k.data(), v.data(), s);
    best_b = std::min(best_b, t.seconds());
    cpu_b = std::min(cpu_b, cpu_seconds() - c0);
  }
  // Query row i sees T_kv - T_q + i + 1 keys; QK^T and PV are 2 FLOPs per pair and dimension.
  const double tq = static_cast<double>(s.T_q), pairs = tq * static_cast<double>(s.T_kv - s.T_q) + tq * tq / 2;
  const double flops_f = 4.0 * pairs * c.D * c.H;
  const double flops_b = 2.5 * flops_f;
  if (chunk) {
    std::printf("B=1 H=%d Hkv=%d D=%d T_q=%lld T_kv=%lld threads=%d: forward %.4f s %.1f GFLOP/s, "
                "per CPU-second %.1f\n",
                c.H, c.Hkv, c.D, static_cast<long long>(s.T_q), static_cast<long long>(c.T),
                longctx::num_threads(), best_f, flops_f / best_f * 1e-9, flops_f / cpu_f * 1e-9);
    return {{"bench", "attention_chunk"}, {"T_q", s.T_q}, {"T_kv", c.T}, {"H", c.H}, {"Hkv", c.Hkv},
            {"D", c.D}, {"reps", reps}, {"threads", longctx::num_threads()},
            {"products", bf16 ? "bf16" : "fp32"},
            {"forward_s_best", best_f}, {"forward_gflops", flops_f / best_f * 1e-9},
            {"forward_gflops_per_cpu_s", flops_f / cpu_f * 1e-9},
            {"platform", longctx::kernels::platform_json()}};
  }
  std::printf("B=1 H=%d Hkv=%d D=%d T=%lld threads=%d: forward %.3f s %.1f GFLOP/s, backward %.3f s %.1f GFLOP/s\n",
              c.H, c.Hkv, c.D, static_cast<long long>(c.T), longctx::num_threads(), best_f,
              flops_f / best_f * 1e-9, best_b, flops_b / best_b * 1e-9);
  std::printf("  per CPU-second (all threads): forward %.1f GFLOP/s, backward %.1f GFLOP/s\n",
              flops_f / cpu_f * 1e-9, flops_b / cpu_b * 1e-9);
  return {{"bench", "attention"}, {"T", c.T}, {"H", c.H}, {"Hkv", c.Hkv}, {"D", c.D},
          {"reps", reps}, {"threads", longctx::num_threads()}, {"products", bf16 ? "bf16" : "fp32"},
          {"forward_s_best", best_f}, {"backward_s_best", best_b},
          {"forward_gflops", flops_f / best_f * 1e-9}, {"backward_gflops", flops_b / best_b * 1e-9},
          {"forward_gflops_per_cpu_s", flops_f / cpu_f * 1e-9},
          {"backward_gflops_per_cpu_s", flops_b / cpu_b * 1e-9},
          {"platform", longctx::kernels::platform_json()}};
}

// --target NAME -> the target bit, or an error listing the runnable ones.
int64_t target_by_name(const std::string& name) {
  std::string known;
  for (int64_t t : longctx::kernels::simd_runnable_targets()) {
    if (longctx::kernels::simd_target_name(t) == name) return t;
    known += ' ';  // two appends: `" " + string` trips GCC 12's -Wrestrict false alarm
    known += longctx::kernels::simd_target_name(t);
  }
  LONGCTX_CHECK(false, "attention_bench: --target %s is not runnable here (runnable:%s)",
                name.c_str(), known.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string json_path;
  std::unique_ptr<longctx::kernels::ScopedSimdTarget> pin;
  std::vector<std::string> positional;
  int64_t tq = 0;
  bool bf16 = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--bf16") {
      bf16 = true;
      continue;
    }
    if ((args[i] == "--target" || args[i] == "--json" || args[i] == "--tq") && i + 1 < args.size()) {
      if (args[i] == "--tq")
        tq = std::atoll(args[++i].c_str());
      else if (args[i] == "--target")
        pin = std::make_unique<longctx::kernels::ScopedSimdTarget>(target_by_name(args[++i]));
      else
        json_path = args[++i];
    } else {
      positional.push_back(args[i]);
    }
  }
  int reps = 3;
  std::vector<Config> configs{{4096, 8, 4, 32}, {2048, 12, 4, 64}};
  int threads = 0;
  if (positional.size() >= 4) {
    configs = {{std::atoll(positional[0].c_str()), std::atoi(positional[1].c_str()),
                std::atoi(positional[2].c_str()), std::atoi(positional[3].c_str()), tq}};
    if (positional.size() >= 5) reps = std::atoi(positional[4].c_str());
    if (positional.size() >= 6) threads = std::atoi(positional[5].c_str());
  }
  longctx::set_num_threads(threads);
  std::printf("SIMD target %s, products %s\n",
              longctx::kernels::simd_target_name(longctx::kernels::simd_dispatched_target()).c_str(),
              bf16 ? "bf16" : "fp32");
  std::ofstream json_out;
  if (!json_path.empty()) json_out.open(json_path, std::ios::app);
  for (const Config& c : configs) {
    const nlohmann::json r = run(c, reps, bf16);
    if (json_out.is_open()) json_out << r.dump() << '\n';
  }
  LONGCTX_CHECK(json_path.empty() || json_out.good(), "attention_bench: cannot write --json '%s'",
                json_path.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "attention_bench: %s\n", e.what());
  return 1;
}
