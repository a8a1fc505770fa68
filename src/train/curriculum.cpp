#include "train/curriculum.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "train/flops.h"

namespace longctx::train {

namespace {

int64_t short_steps_of(const TrainConfig& c) {
  return static_cast<int64_t>(std::llround(c.short_share * static_cast<double>(c.steps)));
}

}  // namespace

int64_t Curriculum::streams() const {
  const int64_t long_mb = step_tokens() / (seq * micro_batch);
  if (!active()) return long_mb;
  return std::gcd(long_mb, step_tokens() / (short_seq * micro_batch));
}

Curriculum make_curriculum(const TrainConfig& c) {
  Curriculum k;
  k.seq = c.seq;
  k.micro_batch = c.micro_batch;
  k.batch_tokens = c.batch_tokens;
  if (c.short_seq > 0) {
    k.short_seq = c.short_seq;
    k.short_steps = short_steps_of(c);
  }
  return k;
}

double curriculum_flops(const Curriculum& k, const model::ModelConfig& config,
                        int64_t steps_done) {
  const int64_t short_done = k.active() ? std::min(steps_done, k.short_steps) : 0;
  const int64_t long_done = steps_done - short_done;
  const double tokens = static_cast<double>(k.step_tokens());
  double flops = tokens * static_cast<double>(long_done) * model_flops_per_token(config, k.seq);
  if (short_done > 0)
    flops += tokens * static_cast<double>(short_done) * model_flops_per_token(config, k.short_seq);
  return flops;
}

void check_curriculum_flags(const TrainConfig& c) {
  if (c.short_seq == 0) {
    LONGCTX_CHECK(c.short_share == 0 && c.short_rope.empty(),
                  "--short-share / --short-rope: the curriculum needs --short-seq T0 (the "
                  "window of the first steps)");
    return;
  }
  const auto ll = [](int64_t v) { return static_cast<long long>(v); };
  LONGCTX_CHECK(c.short_seq >= 2 && c.short_seq < c.seq,
                "--short-seq: the short window must be in [2, --seq) = [2, %lld), got %lld",
                ll(c.seq), ll(c.short_seq));
  LONGCTX_CHECK(c.short_share >= 0 && c.short_share < 1,
                "--short-share: the share of steps at --short-seq must be in [0, 1), got %g",
                c.short_share);
  const int64_t short_steps = short_steps_of(c);
  LONGCTX_CHECK(short_steps < c.steps,
                "--short-share %g x --steps %lld rounds to %lld short steps: no step would train "
                "at --seq %lld (lower --short-share or raise --steps)",
                c.short_share, ll(c.steps), ll(short_steps), ll(c.seq));
  const int64_t short_tokens = c.short_seq * c.micro_batch, long_tokens = c.seq * c.micro_batch;
  LONGCTX_CHECK(c.batch_tokens % short_tokens == 0 && c.batch_tokens % long_tokens == 0,
                "--batch-tokens %lld must be a multiple of both --short-seq x --micro-batch = "
                "%lld and --seq x --micro-batch = %lld (tokens per step are the same in both "
                "phases)",
                ll(c.batch_tokens), ll(short_tokens), ll(long_tokens));
  LONGCTX_CHECK(c.pose_target == 0 || c.pose_target > c.short_seq,
                "--pose-target: must exceed --short-seq (%lld)", ll(c.short_seq));
  LONGCTX_CHECK(
      c.context_parallel == 1 || c.short_seq % (2 * static_cast<int64_t>(c.context_parallel)) == 0,
      "--short-seq: %lld is not a multiple of 2 x --context-parallel = %d", ll(c.short_seq),
      2 * c.context_parallel);
}

}  // namespace longctx::train
