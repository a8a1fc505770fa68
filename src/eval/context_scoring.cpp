#include "eval/context_scoring.h"

#include <algorithm>

#include "core/error.h"

namespace longctx::eval {

namespace {

// T rounded up to the next multiple of 2K (the zig-zag split's unit).
int64_t padded_length(int64_t T, int K) {
  const int64_t unit = 2 * static_cast<int64_t>(K);
  return (T + unit - 1) / unit * unit;
}

// Checked before the collective split, identically on every rank.
train::Comm& checked_world(train::Comm& world, int K) {
  LONGCTX_CHECK(K >= 2, "--context-parallel: must be >= 2 to split sequences, got %d", K);
  LONGCTX_CHECK(world.size() == K,
                "--context-parallel %d needs exactly %d MPI ranks (run `mpirun -np %d longctx eval "
                "ppl ... --context-parallel %d`); this is %d rank(s)%s",
                K, K, K, K, world.size(),
                train::launched_by_mpi() ? "" : ", not started by mpirun");
  return world;
}

}  // namespace

ContextScoring::ContextScoring(train::Comm& world, int context_parallel)
    : world_(checked_world(world, context_parallel)), cp_(world_, context_parallel, 0) {}

size_t ContextScoring::bytes_needed(const model::ModelConfig& config, int64_t T, int K) {
  const int64_t Tp = padded_length(T, K), local = Tp / K;
  const int64_t kv_row = config.n_kv_heads * config.resolved_head_dim();
  size_t bytes = model::TrainWorkspace::bytes_needed(config, 1, local,
                                                     model::WorkspaceLayout::kForward);
  bytes += static_cast<size_t>(4 * local * kv_row) * sizeof(float);  // two incoming k/v blocks
  bytes += static_cast<size_t>(Tp + local) * sizeof(float);           // gathered losses
  bytes += static_cast<size_t>(4 * Tp) * sizeof(int32_t);             // padded sequence, slices
  return bytes;
}

void ContextScoring::losses(float* out, const model::LlamaModel& model,
                            std::span<const int32_t> inputs, std::span<const int32_t> targets) {
  LONGCTX_CHECK(!inputs.empty() && inputs.size() == targets.size(),
                "context-parallel scoring: %zu inputs, %zu targets", inputs.size(), targets.size());
  const int K = ranks();
  const int64_t T = static_cast<int64_t>(inputs.size()), Tp = padded_length(T, K), local = Tp / K;
  cp_.set_seq_len(Tp);
  // The padding (positions T..Tp-1) comes after every real token, so no real query sees it;
  // its targets are ignored and its position ids stay below T (the RoPE table's length).
  tokens_.assign(inputs.begin(), inputs.end());
  tokens_.resize(static_cast<size_t>(Tp), inputs[0]);
  targets_.assign(targets.begin(), targets.end());
  targets_.resize(static_cast<size_t>(Tp), -1);
  positions_.resize(static_cast<size_t>(Tp));
  for (int64_t t = 0; t < Tp; ++t) positions_[static_cast<size_t>(t)] = static_cast<int32_t>(std::min(t, T - 1));
  cp_.slice(local_, tokens_.data(), targets_.data(), nullptr, positions_.data(), 1);
  model::StepOptions options;
  cp_.bind(local_, options);
  // As one process scoring T tokens: the table (and dynamic encodings) at T, not Tp (the
  // rank's own rows must fit too, which only matters for T below 2K).
  options.position_limit = std::max(T, local);
  local_losses_.resize(static_cast<size_t>(local));
  model::forward_loss(model, local_.tokens.data(), local_.targets.data(), 1, local, options, ws_,
                      local_losses_.data());
  // Every rank's rows in sequence order: each puts its own into zeros, then a sum over the
  // ranks (adding zeros is exact) hands every rank the whole sequence.
  whole_.assign(static_cast<size_t>(Tp), 0.0f);
  const train::ContextSplit& split = cp_.ring()->split();
  for (int64_t i = 0; i < local; ++i)
    whole_[static_cast<size_t>(split.global_index(i))] = local_losses_[static_cast<size_t>(i)];
  world_.allreduce_sum(whole_.data(), Tp);
  std::copy(whole_.begin(), whole_.begin() + T, out);
}

}  // namespace longctx::eval
