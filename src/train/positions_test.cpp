#include "train/positions.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"

namespace longctx::train {
namespace {

// PoSE ids: start at 0, increase strictly, stay below the target, jump at most chunks-1
// times, depend only on the seed, and over many seeds reach the far end of the target.
TEST(PosePositions, ChunksWithSortedSkipsInsideTheTarget) {
  const int64_t T = 64, target = 1024;
  int32_t max_seen = 0;
  for (int64_t chunks : {1, 2, 4}) {
    for (uint64_t seed = 0; seed < 200; ++seed) {
      std::vector<int32_t> p(T), again(T);
      pose_positions(p.data(), T, target, chunks, seed);
      pose_positions(again.data(), T, target, chunks, seed);
      EXPECT_EQ(p, again);
      EXPECT_EQ(p[0], 0);
      int jumps = 0;
      for (int64_t t = 1; t < T; ++t) {
        ASSERT_GT(p[t], p[t - 1]);
        jumps += p[t] != p[t - 1] + 1;
      }
      EXPECT_LE(jumps, chunks - 1);
      ASSERT_LT(p[T - 1], target);
      if (chunks == 1) {
        EXPECT_EQ(p[T - 1], T - 1);
      }
      max_seen = std::max(max_seen, p[T - 1]);
    }
  }
  EXPECT_GT(max_seen, target - 40);  // skips cover the range
  std::vector<int32_t> p(4);
  EXPECT_THROW(pose_positions(p.data(), 4, 3, 2, 0), Error);  // target below T
  EXPECT_THROW(pose_positions(p.data(), 4, 8, 5, 0), Error);  // more chunks than tokens
}

TEST(DocumentPositions, RestartAtEachDocumentAndContinueOverPadding) {
  const std::vector<int32_t> seg = {0, 0, 0, 1, 1, 2, 2, 2, -1, -1};
  std::vector<int32_t> p(seg.size());
  document_positions(p.data(), seg.data(), static_cast<int64_t>(seg.size()));
  EXPECT_EQ(p, (std::vector<int32_t>{0, 1, 2, 0, 1, 0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace longctx::train
