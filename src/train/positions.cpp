#include "train/positions.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/hash.h"

namespace longctx::train {

void pose_positions(int32_t* positions, int64_t T, int64_t target, int64_t chunks, uint64_t seed) {
  LONGCTX_CHECK(T >= 1 && target >= T && chunks >= 1 && chunks <= T,
                "pose_positions: need 1 <= chunks (%lld) <= T (%lld) <= target (%lld)",
                static_cast<long long>(chunks), static_cast<long long>(T),
                static_cast<long long>(target));
  uint64_t draw = 0;
  auto uniform = [&](uint64_t n) { return mix64(seed ^ mix64(++draw)) % n; };  // [0, n)
  std::vector<int64_t> cuts;  // chunk starts after the first, distinct, sorted
  while (static_cast<int64_t>(cuts.size()) < chunks - 1) {
    const int64_t c = 1 + static_cast<int64_t>(uniform(static_cast<uint64_t>(T - 1)));
    if (std::find(cuts.begin(), cuts.end(), c) == cuts.end()) cuts.push_back(c);
  }
  std::sort(cuts.begin(), cuts.end());
  std::vector<int64_t> skips(static_cast<size_t>(chunks), 0);
  for (int64_t i = 1; i < chunks; ++i)
    skips[static_cast<size_t>(i)] =
        static_cast<int64_t>(uniform(static_cast<uint64_t>(target - T + 1)));
  std::sort(skips.begin() + 1, skips.end());
  int64_t chunk = 0;
  for (int64_t t = 0; t < T; ++t) {
    while (chunk < chunks - 1 && t >= cuts[static_cast<size_t>(chunk)]) ++chunk;
    positions[t] = static_cast<int32_t>(t + skips[static_cast<size_t>(chunk)]);
  }
}

void document_positions(int32_t* positions, const int32_t* segment_ids, int64_t T) {
  int64_t start = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (t > 0 && segment_ids[t] >= 0 && segment_ids[t] != segment_ids[t - 1]) start = t;
    positions[t] = static_cast<int32_t>(t - start);
  }
}

}  // namespace longctx::train
