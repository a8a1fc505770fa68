// The machine's memory read rate, measured: every thread streams its share of a buffer far
// larger than the caches through SIMD loads and adds (nothing written). This is the ceiling
// of decode, which reads every weight matrix and the KV cache once per generated token: the
// decode benchmarks state their bytes per token x tokens/s against it.
#pragma once

#include <cstdint>

namespace longctx::kernels {

struct MemoryBandwidth {
  double read_gbps = 0.0;   // best pass: bytes read by all threads / wall time, 1e9 B/s
  int64_t bytes = 0;        // buffer size streamed per pass
  int threads = 0;
  int passes = 0;
};

// The streaming loop itself (dispatched SIMD target): the sum of x[0, n), x aligned to 64 bytes.
float memory_stream_sum(const float* x, int64_t n);

// Streams a `bytes` buffer (rounded to whole vectors, at least 64 MiB so that no cache holds
// it) for about `seconds` on the current thread count, after one untimed first-touch pass.
MemoryBandwidth measure_memory_bandwidth(double seconds = 0.3, int64_t bytes = int64_t{512} << 20);

}  // namespace longctx::kernels
