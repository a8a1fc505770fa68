// Training micro-batches: a fixed number of data streams (document partitions), each a
// deterministic function of (seed, stream, its sequence counter), prefetched on a background
// thread so loading overlaps the compute.
//
// Step s uses rounds(s) micro-batches of every stream (curriculum.h; one without a short
// phase), stream after stream, round after round: micro-batch slot i of the step comes from
// stream i % M. With K MPI ranks, rank r holds the streams j with j % K == r, so the global
// batch (and the data) is the same for any K that divides M, and one process reproduces a
// K-rank run up to the order of the gradient sums.
//
// A stream holds one sampler per source (data/sampler.h with rank = stream, world = M, so
// streams read disjoint documents) and, per sequence, draws from the counter whether it is a
// synthetic task (share --task-share) or which source it comes from (the sources' shares).
// Its state (counter and sampler cursors) is small JSON; the state after each micro-batch
// travels with it, so a checkpoint records exactly what the consumer has used.
//
// At a curriculum's switch every stream continues where it stood: the samplers' cursors
// (epoch, document, token offset) do not depend on the window, so the first long sequence
// starts where the last short one ended (packed: at its last target, as between any two
// sequences), and no document is repeated or skipped.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "data/sampler.h"
#include "io/tokenizer.h"
#include "train/curriculum.h"
#include "train/data_sources.h"
#include "train/task_sequences.h"

namespace longctx::train {

struct FeedOptions {
  Curriculum plan;         // window, B and micro-batches of every step; M = plan.streams()
  int64_t first_step = 1;  // the optimizer step of the first micro-batch (resume: step + 1)
  uint64_t seed = 0;
  data::PackMode mode = data::PackMode::kPacked;
  std::vector<data::LengthBucketWeight> upsample;
  bool document_mask = true;        // fill segment_ids
  bool document_positions = false;  // position ids restart at each document
  int64_t pose_target = 0;          // > 0: PoSE position ids spanning this length
  int64_t pose_chunks = 2;
  double task_share = 0;
  std::vector<TaskKind> tasks;
  const io::Tokenizer* tokenizer = nullptr;  // required when task_share > 0
};

struct MicroBatch {
  int64_t stream = 0;
  int64_t step = 0;     // the optimizer step it belongs to
  int64_t seq_len = 0;  // T of that step's window
  std::vector<int32_t> tokens, targets;  // (B, T)
  std::vector<int32_t> segment_ids;      // (B, T), empty without document masking
  std::vector<int32_t> position_ids;     // (B, T), empty for plain positions 0..T-1
  int64_t n_valid = 0;                   // targets != -1
  nlohmann::json state_after;            // the stream's state after this micro-batch
};

class DataStream {
 public:
  // Starts at the window of options.first_step.
  DataStream(const std::vector<DataSource>& sources, const FeedOptions& options, int64_t stream);
  // B sequences of the current window.
  void next(MicroBatch& out);
  int64_t window() const { return window_; }
  // Continues at window T from the current position (a curriculum's switch).
  void set_window(int64_t T);
  nlohmann::json state() const;
  // Error when it belongs to another stream. The sampler cursors may come from either window.
  void restore(const nlohmann::json& state);

 private:
  void open(int64_t T);  // samplers and task maker for window T, at their starting positions
  void next_sequence(data::Sequence& seq, int32_t* positions);

  std::vector<DataSource> sources_;
  FeedOptions options_;
  int64_t stream_;
  int64_t window_ = 0;
  std::vector<double> cumulative_share_;  // normalised, last = 1
  std::vector<std::unique_ptr<data::SequenceSampler>> samplers_;
  std::unique_ptr<TaskSequenceMaker> tasks_;
  int64_t sequences_ = 0;
};

class BatchFeed {
 public:
  // Streams owned by this rank, in the order they are consumed within a step; states maps a
  // stream index (as text) to the state to restore (empty: start fresh).
  BatchFeed(const std::vector<DataSource>& sources, const FeedOptions& options,
            std::vector<int64_t> streams, const nlohmann::json& states);
  ~BatchFeed();
  BatchFeed(const BatchFeed&) = delete;
  BatchFeed& operator=(const BatchFeed&) = delete;

  // The next micro-batch, in stream order, round after round, step after step (each step's
  // window and rounds from options.plan); rethrows a loader error.
  MicroBatch take();
  // stream index (text) -> state after its last taken micro-batch (or its initial state).
  nlohmann::json consumed_states() const { return consumed_; }

 private:
  void produce();

  FeedOptions options_;
  std::vector<std::unique_ptr<DataStream>> streams_;
  nlohmann::json consumed_ = nlohmann::json::object();
  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<MicroBatch> queue_;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

}  // namespace longctx::train
