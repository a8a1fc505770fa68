// Bucket averaging, confidence intervals and the effective length against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "eval/stats.h"

namespace longctx::eval {
namespace {

TEST(Stats, BucketAveragingByHand) {
  BucketAverager b(3);
  // Sample 1: positions 0..7 hold 1..8. Sample 2: positions 0..4 hold 10.
  const std::vector<float> s1 = {1, 2, 3, 4, 5, 6, 7, 8}, s2 = {10, 10, 10, 10, 10};
  b.add_range(0, s1);
  b.add_range(0, s2);
  const auto k = b.buckets();
  ASSERT_EQ(k.size(), 3u);
  // [0,3): 1,2,3,10,10,10 -> 36/6 = 6.  [3,6): 4,5,6,10,10 -> 35/5 = 7.  [6,8): 7,8 -> 7.5.
  EXPECT_EQ(k[0].start, 0);
  EXPECT_EQ(k[0].end, 3);
  EXPECT_EQ(k[0].count, 6);
  EXPECT_DOUBLE_EQ(k[0].mean, 6.0);
  EXPECT_EQ(k[1].count, 5);
  EXPECT_DOUBLE_EQ(k[1].mean, 7.0);
  EXPECT_EQ(k[2].start, 6);
  EXPECT_EQ(k[2].end, 8);  // cut at the last position seen + 1
  EXPECT_EQ(k[2].count, 2);
  EXPECT_DOUBLE_EQ(k[2].mean, 7.5);
  // The count-weighted mean of the buckets is the mean of everything.
  double sum = 0;
  int64_t n = 0;
  for (const Bucket& x : k) sum += x.mean * static_cast<double>(x.count), n += x.count;
  EXPECT_DOUBLE_EQ(sum / static_cast<double>(n), 86.0 / 13.0);
}

TEST(Stats, EmptyBucketsAreLeftOutAndWidthIsChecked) {
  BucketAverager b(500);
  b.add(10, 1.0);
  b.add(1700, 3.0);
  const auto k = b.buckets();
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[1].start, 1500);
  EXPECT_EQ(k[1].end, 1701);
  EXPECT_THROW(BucketAverager(0), Error);
}

TEST(Stats, MeanCiByHand) {
  // 1,2,3,4: mean 2.5, s = sqrt(5/3), se = s/2 = 0.645497, t(3) = 3.182 -> half 2.05397.
  const std::vector<double> v = {1, 2, 3, 4};
  const MeanCi c = mean_ci95(v);
  EXPECT_DOUBLE_EQ(c.mean, 2.5);
  EXPECT_NEAR(c.std_error, 0.6454972, 1e-6);
  EXPECT_NEAR(c.lo, 2.5 - 3.182 * 0.6454972, 1e-6);
  EXPECT_NEAR(c.hi, 2.5 + 3.182 * 0.6454972, 1e-6);
  const std::vector<double> one = {7};
  EXPECT_TRUE(std::isnan(mean_ci95(one).lo));
  EXPECT_DOUBLE_EQ(mean_ci95(one).mean, 7);
  EXPECT_NEAR(t_quantile_975(1000), 1.9623, 1e-3);  // table: 1.962
  EXPECT_NEAR(t_quantile_975(60), 2.000, 2e-3);     // table: 2.000
}

TEST(Stats, EffectiveLength) {
  const std::vector<int64_t> L = {1024, 2048, 4096, 8192};
  const std::vector<double> a = {100, 90, 80, 95};  // 85% of 100: 80 fails, later ones ignored
  EXPECT_EQ(effective_length(L, a), 2048);
  const std::vector<double> b = {40, 40, 35, 34.5};  // 85% of 40 = 34: all keep it
  EXPECT_EQ(effective_length(L, b), 8192);
  const std::vector<double> c = {0, 50, 50, 50};  // nothing to keep
  EXPECT_EQ(effective_length(L, c), 0);
  const std::vector<double> d = {50, 10, 10, 10};
  EXPECT_EQ(effective_length(L, d), 1024);
}

}  // namespace
}  // namespace longctx::eval
