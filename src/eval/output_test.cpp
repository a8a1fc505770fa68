// The per-position buckets CSV shared by eval kld and eval ppl.
#include "eval/output.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace longctx::eval {
namespace {

TEST(BucketCsv, HeaderAndOneLinePerBucketWithEachSeriesMean) {
  EXPECT_EQ(bucket_csv_header({"mean_kld", "top1_agreement"}),
            "label,length,start,end,mean_kld,top1_agreement,count\n");
  const std::vector<Bucket> kl = {{0, 4, 0.5, 8}, {4, 6, 0.25, 3}};
  const std::vector<Bucket> agree = {{0, 4, 0.75, 8}, {4, 6, 1.0, 3}};
  EXPECT_EQ(bucket_csv_lines("base, ABF", 6, {&kl, &agree}),
            "\"base, ABF\",6,0,4,0.5,0.75,8\n\"base, ABF\",6,4,6,0.25,1,3\n");
  EXPECT_EQ(bucket_csv_lines("x", 6, {&kl}), "x,6,0,4,0.5,8\nx,6,4,6,0.25,3\n");
}

TEST(BucketCsv, SeriesOfDifferentBucketsAreAnError) {
  const std::vector<Bucket> a = {{0, 4, 0.5, 8}}, b = {{4, 8, 0.5, 8}}, c;
  EXPECT_THROW(bucket_csv_lines("x", 8, {&a, &b}), Error);
  EXPECT_THROW(bucket_csv_lines("x", 8, {&a, &c}), Error);
}

}  // namespace
}  // namespace longctx::eval
