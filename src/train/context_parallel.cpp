#include "train/context_parallel.h"

#include <algorithm>

#include "core/error.h"

namespace longctx::train {

ParallelLayout parallel_layout(int world_size, int world_rank, int context_parallel) {
  LONGCTX_CHECK(context_parallel >= 1, "--context-parallel: must be >= 1, got %d",
                context_parallel);
  LONGCTX_CHECK(world_size % context_parallel == 0,
                "--context-parallel %d does not divide the %d MPI ranks (run mpirun -np K*D for "
                "D data-parallel groups of K ranks)",
                context_parallel, world_size);
  ParallelLayout l;
  l.context = context_parallel;
  l.data = world_size / context_parallel;
  l.context_rank = world_rank % context_parallel;
  l.data_rank = world_rank / context_parallel;
  return l;
}

ContextParallel::ContextParallel(Comm& world, int context_parallel, int64_t seq_len)
    : layout_(parallel_layout(world.size(), world.rank(), context_parallel)), seq_len_(seq_len) {
  if (!active()) return;
  // Checked before any collective, identically on every rank.
  if (seq_len != 0) {
    const ContextSplit check(seq_len, layout_.context, layout_.context_rank);
    (void)check;
  }
  group_ = world.split(layout_.data_rank, layout_.context_rank);
  LONGCTX_CHECK(group_->size() == layout_.context && group_->rank() == layout_.context_rank,
                "--context-parallel: group of %d ranks, expected %d", group_->size(),
                layout_.context);
  transport_ = std::make_unique<MpiRingTransport>(*group_);
  if (seq_len != 0) ring_ = std::make_unique<RingAttention>(*transport_, seq_len);
}

void ContextParallel::set_seq_len(int64_t seq_len) {
  if (seq_len == seq_len_ && (ring_ || !active())) return;
  seq_len_ = seq_len;
  if (active()) ring_ = std::make_unique<RingAttention>(*transport_, seq_len);
}

void ContextParallel::slice(LocalBatch& local, const int32_t* tokens, const int32_t* targets,
                            const int32_t* segment_ids, const int32_t* position_ids,
                            int64_t B) const {
  const int64_t T = seq_len_;
  auto copy = [&](std::vector<int32_t>& dst, const int32_t* src) {
    if (src == nullptr) return dst.clear();
    if (!active()) return dst.assign(src, src + B * T);
    dst.resize(static_cast<size_t>(B * T / layout_.context));
    ring_->split().slice(dst.data(), src, B);
  };
  local.B = B;
  copy(local.tokens, tokens);
  copy(local.targets, targets);
  copy(local.segment_ids, segment_ids);
  std::vector<int32_t> plain;
  if (active() && position_ids == nullptr) {  // absolute positions 0..T-1, then sliced
    plain.resize(static_cast<size_t>(B * T));
    for (int64_t i = 0; i < B * T; ++i) plain[static_cast<size_t>(i)] = static_cast<int32_t>(i % T);
    position_ids = plain.data();
  }
  copy(local.position_ids, position_ids);
  local.n_valid = 0;
  for (int32_t t : local.targets) local.n_valid += t != -1;
  if (active() && segment_ids != nullptr)
    local.whole_segment_ids.assign(segment_ids, segment_ids + B * T);
  else
    local.whole_segment_ids.clear();
}

void ContextParallel::bind(const LocalBatch& local, model::StepOptions& options) {
  options.segment_ids = local.segment_ids.empty() ? nullptr : local.segment_ids.data();
  options.position_ids = local.position_ids.empty() ? nullptr : local.position_ids.data();
  if (!active()) return;
  ring_->set_batch(local.whole_segment_ids.empty() ? nullptr : local.whole_segment_ids.data(),
                   local.B);
  options.attention = ring_.get();
  options.position_limit = std::max(options.position_limit, seq_len_);
}

}  // namespace longctx::train
