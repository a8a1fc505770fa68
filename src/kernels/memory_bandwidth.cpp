#include "kernels/memory_bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/memory_bandwidth.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "core/buffer.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

// Sum of x[0, n) with four independent accumulators, so the loop is bound by the loads, not by
// the add latency (x aligned to the vector size; the tail past whole groups added one by one).
float stream_sum(const float* HWY_RESTRICT x, int64_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    a0 = hn::Add(a0, hn::Load(d, x + i));
    a1 = hn::Add(a1, hn::Load(d, x + i + L));
    a2 = hn::Add(a2, hn::Load(d, x + i + 2 * L));
    a3 = hn::Add(a3, hn::Load(d, x + i + 3 * L));
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(stream_sum);

float memory_stream_sum(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(stream_sum)(x, n); }

MemoryBandwidth measure_memory_bandwidth(double seconds, int64_t bytes) {
  MemoryBandwidth m;
  m.threads = omp_get_max_threads();
  // Each thread's share is a whole number of 4 KiB pages (a multiple of any vector block).
  constexpr int64_t kPage = 4096;
  const int64_t floor_bytes = int64_t{64} << 20;
  const int64_t per_thread = std::max(bytes, floor_bytes) / m.threads / kPage * kPage;
  m.bytes = per_thread * m.threads;
  const int64_t n_per_thread = per_thread / static_cast<int64_t>(sizeof(float));
  // Buffer zeroes its memory: every page is touched (mapped) before the timed passes.
  Buffer<float> buffer(static_cast<size_t>(n_per_thread * m.threads));
  const float* x = buffer.data();
  volatile float sink = 0.0f;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  double best = 0.0;
  do {
    float sums[256] = {};
    const auto t0 = clock::now();
#pragma omp parallel num_threads(m.threads)
    {
      const int t = omp_get_thread_num();
      sums[t % 256] = memory_stream_sum(x + static_cast<int64_t>(t) * n_per_thread, n_per_thread);
    }
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    for (float s : sums) sink = sink + s;
    best = std::max(best, static_cast<double>(m.bytes) / std::max(dt, 1e-9) * 1e-9);
    ++m.passes;
  } while (m.passes < 3 || std::chrono::duration<double>(clock::now() - start).count() < seconds);
  m.read_gbps = best;
  return m;
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
