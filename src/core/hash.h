// Seeded, platform-independent 64-bit hashing (the SplitMix64 finaliser). Used where a
// result must not depend on the standard library: data splits, sampling order, task
// generation. The values are part of the on-disk and test contracts, so never change it.
#pragma once
#include <cstdint>

namespace longctx {

// Bijective mix of x; consecutive inputs give uncorrelated outputs.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace longctx
