#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace longctx::train {

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "linear") return ScheduleKind::kLinear;
  throw_error("--schedule: unknown schedule '%s' (cosine, constant, linear)", name.c_str());
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kCosine:
      return "cosine";
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kLinear:
      return "linear";
  }
  return "?";
}

void LrSchedule::validate() const {
  LONGCTX_CHECK(std::isfinite(peak_lr) && peak_lr > 0, "--lr: must be positive, got %g", peak_lr);
  LONGCTX_CHECK(total_steps >= 1, "--steps: must be >= 1, got %lld",
                static_cast<long long>(total_steps));
  LONGCTX_CHECK(warmup_steps >= 0 && warmup_steps <= total_steps,
                "--warmup: must be in [0, --steps = %lld], got %lld",
                static_cast<long long>(total_steps), static_cast<long long>(warmup_steps));
  LONGCTX_CHECK(min_ratio >= 0 && min_ratio <= 1, "--min-lr-ratio: must be in [0, 1], got %g",
                min_ratio);
}

double LrSchedule::lr_at(int64_t step) const {
  if (step <= warmup_steps)
    return peak_lr * static_cast<double>(std::max<int64_t>(step, 1)) /
           static_cast<double>(warmup_steps);
  if (kind == ScheduleKind::kConstant || total_steps <= warmup_steps) return peak_lr;
  // Progress through the decay phase, 0 right after warm-up, 1 at total_steps.
  const double t = std::min(1.0, static_cast<double>(step - warmup_steps) /
                                     static_cast<double>(total_steps - warmup_steps));
  const double decay =
      kind == ScheduleKind::kCosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * t)) : 1.0 - t;
  return peak_lr * (min_ratio + (1.0 - min_ratio) * decay);
}

}  // namespace longctx::train
