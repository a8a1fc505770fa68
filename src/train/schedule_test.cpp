#include "train/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace longctx::train {
namespace {

TEST(LrSchedule, WarmupThenCosineToMinimum) {
  const LrSchedule s{ScheduleKind::kCosine, 1e-3, 10, 110, 0.1};
  EXPECT_DOUBLE_EQ(s.lr_at(1), 1e-4);  // warm-up: peak * step / warmup
  EXPECT_DOUBLE_EQ(s.lr_at(5), 5e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(10), 1e-3);                        // peak at the end of warm-up
  EXPECT_NEAR(s.lr_at(60), 1e-3 * (0.1 + 0.9 * 0.5), 1e-15);  // half-way: cos(pi/2) = 0
  EXPECT_NEAR(s.lr_at(35), 1e-3 * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.25))),
              1e-15);
  EXPECT_NEAR(s.lr_at(110), 1e-4, 1e-15);  // the minimum ratio at the last step
  EXPECT_NEAR(s.lr_at(500), 1e-4, 1e-15);  // and after it
  for (int64_t t = 11; t < 110; ++t) EXPECT_LT(s.lr_at(t + 1), s.lr_at(t)) << t;
}

TEST(LrSchedule, ConstantAndLinear) {
  const LrSchedule c{ScheduleKind::kConstant, 2e-5, 0, 100, 0.1};
  EXPECT_DOUBLE_EQ(c.lr_at(1), 2e-5);
  EXPECT_DOUBLE_EQ(c.lr_at(100), 2e-5);
  const LrSchedule l{ScheduleKind::kLinear, 1.0, 0, 100, 0.0};
  EXPECT_NEAR(l.lr_at(50), 0.5, 1e-15);
  EXPECT_NEAR(l.lr_at(100), 0.0, 1e-15);
  EXPECT_EQ(parse_schedule_kind("linear"), ScheduleKind::kLinear);
  EXPECT_STREQ(schedule_kind_name(ScheduleKind::kCosine), "cosine");
}

TEST(LrSchedule, InvalidValuesNameTheFlag) {
  auto message = [](const LrSchedule& s) {
    try {
      s.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({ScheduleKind::kCosine, 0.0, 0, 10, 0.1}).find("--lr"), std::string::npos);
  EXPECT_NE(message({ScheduleKind::kCosine, 1e-3, 11, 10, 0.1}).find("--warmup"),
            std::string::npos);
  EXPECT_NE(message({ScheduleKind::kCosine, 1e-3, 0, 10, 1.5}).find("--min-lr-ratio"),
            std::string::npos);
  EXPECT_THROW(parse_schedule_kind("step"), Error);
}

}  // namespace
}  // namespace longctx::train
