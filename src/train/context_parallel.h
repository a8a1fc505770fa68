// Context parallelism in the trainer (`--context-parallel K` under `mpirun -np K*D`): the
// world's ranks form D data groups of K consecutive ranks, rank = data_rank * K +
// context_rank. The K ranks of a group read the same micro-batches and each computes its
// zig-zag slice of every sequence (train/ring_attention.h); attention runs as ring attention
// within the group, everything else is per token and local. Valid-target counts, loss sums
// and gradients are summed over the whole world as with data parallelism alone, so one
// process with the same global batch computes the same step up to the order of the sums.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/llama.h"
#include "train/distributed.h"
#include "train/ring_attention.h"

namespace longctx::train {

struct ParallelLayout {
  int context = 1;       // K: ranks sharing each sequence
  int data = 1;          // D: groups reading different micro-batches
  int context_rank = 0;  // this rank's place in its group
  int data_rank = 0;     // this rank's group
};

// rank = data_rank * K + context_rank. Error naming --context-parallel unless K >= 1 divides
// the world size.
ParallelLayout parallel_layout(int world_size, int world_rank, int context_parallel);

// This rank's rows of a micro-batch (B sequences of T tokens), each (B, T/K).
struct LocalBatch {
  int64_t B = 0;
  std::vector<int32_t> tokens, targets;
  std::vector<int32_t> segment_ids;        // empty without document masking
  std::vector<int32_t> position_ids;       // with K > 1 always set: the rows' absolute positions
  int64_t n_valid = 0;                     // targets != -1 among these rows
  std::vector<int32_t> whole_segment_ids;  // (B, T) with K > 1: what the ring masks with
};

class ContextParallel {
 public:
  // Splits `world` into the groups (collective over it); K = 1 needs no MPI, and the calls
  // below then pass micro-batches through unchanged. seq_len 0: set later by set_seq_len.
  ContextParallel(Comm& world, int context_parallel, int64_t seq_len);
  const ParallelLayout& layout() const { return layout_; }
  bool active() const { return layout_.context > 1; }
  // Sequences of another length T (a multiple of 2K) from now on: evaluation scores sequences
  // of several lengths. Local; every rank of the group makes the same calls.
  void set_seq_len(int64_t seq_len);
  int64_t seq_len() const { return seq_len_; }

  // This rank's rows of a micro-batch: tokens, targets (B, T); segment_ids, position_ids
  // (B, T) or null (position ids then 0..T-1, sliced).
  void slice(LocalBatch& local, const int32_t* tokens, const int32_t* targets,
             const int32_t* segment_ids, const int32_t* position_ids, int64_t B) const;
  // Points options at a slice before its forward(/backward): segment_ids, position_ids and,
  // with K > 1, position_limit (at least T) and the ring (given the whole segment ids).
  void bind(const LocalBatch& local, model::StepOptions& options);

  // The ring (null when inactive): its statistics say how much time went to waiting.
  const RingAttention* ring() const { return ring_.get(); }

 private:
  ParallelLayout layout_;
  int64_t seq_len_ = 0;
  std::unique_ptr<Comm> group_;
  std::unique_ptr<MpiRingTransport> transport_;
  std::unique_ptr<RingAttention> ring_;
};

}  // namespace longctx::train
