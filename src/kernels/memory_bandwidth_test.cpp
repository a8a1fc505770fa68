// The memory read-rate measurement: its loop adds what it reads on every SIMD target, and the
// measurement streams at least the stated buffer and returns a plausible rate.
#include "kernels/memory_bandwidth.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "core/buffer.h"
#include "kernels/simd_testing.h"

namespace longctx::kernels {
namespace {

class MemoryStreamSimd : public PerSimdTarget {};

TEST_P(MemoryStreamSimd, SumsEveryElementIncludingTheTail) {
  // Multiples of 0.25 below 2^20: every partial sum is exact in float whatever the order.
  for (int64_t n : {0, 1, 15, 64, 1000, 4096, 4099}) {
    Buffer<float> x(static_cast<size_t>(n) + 1);
    double expect = 0.0;
    for (int64_t i = 0; i < n; ++i) expect += x[static_cast<size_t>(i)] = 0.25f * float(i % 7);
    x[static_cast<size_t>(n)] = 1e9f;  // one past the end: must not be read
    EXPECT_EQ(memory_stream_sum(x.data(), n), static_cast<float>(expect)) << "n " << n;
  }
}
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(MemoryStreamSimd);

TEST(MemoryBandwidth, StreamsAtLeast64MiBAndGivesAPlausibleRate) {
  const MemoryBandwidth m = measure_memory_bandwidth(0.01, 1 << 20);  // asks 1 MiB: raised
  EXPECT_GE(m.bytes, (int64_t{64} << 20) - 4096 * m.threads);
  EXPECT_GE(m.passes, 3);
  EXPECT_GE(m.threads, 1);
  // Any machine this runs on reads between 0.2 GB/s and 5 TB/s.
  EXPECT_GT(m.read_gbps, 0.2);
  EXPECT_LT(m.read_gbps, 5000.0);
}

}  // namespace
}  // namespace longctx::kernels
