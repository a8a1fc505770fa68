// Learning-rate schedules: linear warm-up, then cosine decay to a minimum ratio, a constant
// rate, or a linear decay to the minimum ratio (the LLaMA 2 Long recipe: warm-up, cosine).
#pragma once
#include <cstdint>
#include <string>

namespace longctx::train {

enum class ScheduleKind { kCosine, kConstant, kLinear };
ScheduleKind parse_schedule_kind(const std::string& name);  // "cosine" | "constant" | "linear"
const char* schedule_kind_name(ScheduleKind kind);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;
  double peak_lr = 3e-4;     // reached at the end of warm-up
  int64_t warmup_steps = 0;  // lr rises linearly from peak/warmup (step 1) to peak (step warmup)
  int64_t total_steps = 1;   // decay ends here
  double min_ratio = 0.1;    // cosine / linear end at peak_lr * min_ratio

  // Throws Error naming the field (lr, warmup, steps, min-lr-ratio) when out of range.
  void validate() const;
  // Learning rate of optimizer step `step` (1-based; steps past total_steps keep the end rate).
  double lr_at(int64_t step) const;
};

}  // namespace longctx::train
