// The validation set of a run: --eval-batches micro-batches (B = --micro-batch, T = --seq)
// drawn once from the sources' valid shards (packed or padded like training, seeded by
// --seed), so every evaluation sees the same tokens. With MPI, data group g of D evaluates
// micro-batches g, g+D, ... (with context parallelism each rank of the group its slice of
// them); the loss sums are reduced in rank order.
#pragma once
#include <cstdint>
#include <vector>

#include "model/llama.h"
#include "train/context_parallel.h"
#include "train/data_sources.h"
#include "train/distributed.h"
#include "train/run_config.h"

namespace longctx::train {

class ValidationSet {
 public:
  ValidationSet(const std::vector<DataSource>& sources, const TrainConfig& config, Comm& comm);
  bool available() const { return batches_ > 0; }
  // Mean loss per valid target (collective over ranks); -1 when there is no validation split.
  double loss(const model::LlamaModel& model, model::TrainWorkspace& ws, const TrainConfig& config,
              ContextParallel& cp);

 private:
  Comm& comm_;
  int64_t batches_ = 0;
  std::vector<int32_t> tokens_, targets_, segment_ids_;  // (batches, B, T)
};

}  // namespace longctx::train
