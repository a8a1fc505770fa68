#include "train/validation.h"

#include "data/sampler.h"

namespace longctx::train {

ValidationSet::ValidationSet(const std::vector<DataSource>& sources, const TrainConfig& c,
                             Comm& comm)
    : comm_(comm) {
  std::vector<std::string> prefixes;
  for (const DataSource& s : sources)
    if (!s.valid_prefix.empty()) prefixes.push_back(s.valid_prefix);
  if (prefixes.empty()) return;
  data::SamplerOptions so;
  so.seq_len = c.seq;
  so.mode = data::parse_pack_mode(c.pack);
  so.seed = c.seed;
  so.bos_id = sources.front().bos_id;
  so.eos_id = sources.front().eos_id;
  so.pad_id = sources.front().pad_id;
  data::SequenceSampler sampler(prefixes, so);
  batches_ = c.eval_batches;
  const size_t n = static_cast<size_t>(batches_ * c.micro_batch * c.seq);
  tokens_.resize(n), targets_.resize(n), segment_ids_.resize(n);
  sampler.next_batch(batches_ * c.micro_batch, tokens_.data(), targets_.data(),
                     segment_ids_.data());
}

double ValidationSet::loss(const model::LlamaModel& model, model::TrainWorkspace& ws,
                           const TrainConfig& c, ContextParallel& cp) {
  if (!available()) return -1;
  const int64_t B = c.micro_batch, T = c.seq;
  const ParallelLayout& layout = cp.layout();
  double sums[2] = {0, 0};  // loss sum, valid targets
  LocalBatch local;
  model::StepOptions options;
  for (int64_t i = layout.data_rank; i < batches_; i += layout.data) {
    const size_t at = static_cast<size_t>(i * B * T);
    cp.slice(local, tokens_.data() + at, targets_.data() + at,
             c.document_mask ? segment_ids_.data() + at : nullptr, nullptr, B);
    cp.bind(local, options);
    const kernels::LossSum ls = model::forward_loss(
        model, local.tokens.data(), local.targets.data(), B, T / layout.context, options, ws);
    sums[0] += ls.loss_sum;
    sums[1] += static_cast<double>(ls.n_valid);
  }
  comm_.allreduce_sum(sums, 2);
  return sums[1] > 0 ? sums[0] / sums[1] : -1;
}

}  // namespace longctx::train
