// Per-token losses of one model over token streams, through the layer-by-layer forward
// (model/forward_long.h), with the chunking rules of ppl_rules.h. Keeps its workspace
// between calls and counts the tokens and seconds of its forward passes (throughput).
// With context parallelism (eval/context_scoring.h) every pass is split over the MPI ranks
// and each rank gets the whole pass's losses.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "eval/context_scoring.h"
#include "eval/ppl_rules.h"
#include "model/forward_long.h"
#include "model/llama.h"

namespace longctx::eval {

class TokenScorer {
 public:
  // context: null = this process alone; else losses() runs split over its ranks (collective).
  explicit TokenScorer(const model::LlamaModel& model, ContextScoring* context = nullptr)
      : model_(model), context_(context) {}

  // One forward pass: inputs (T) -> final-norm hidden states (T, C), valid until the next call.
  // Not under context parallelism (Error).
  const float* hidden(std::span<const int32_t> inputs);
  // One forward pass: losses (T) = -log p(targets[t] | inputs[0..t]) (0 where target is -1).
  void losses(float* out, std::span<const int32_t> inputs, std::span<const int32_t> targets);

  // stream (>= L + 1 tokens; see ppl_rules.h) -> losses (L), target p = stream[p + 1].
  void prefix_losses(float* out, std::span<const int32_t> stream, int64_t L);
  // Same targets, each scored in the first window of `window` tokens (moved by `stride`)
  // that reaches it; out[p] has min(p + 1, ...) tokens of context as the rules say.
  void sliding_losses(float* out, std::span<const int32_t> stream, int64_t L, int64_t window,
                      int64_t stride);

  const model::LlamaModel& model() const { return model_; }
  int64_t tokens() const { return tokens_; }       // tokens run through forward passes
  double seconds() const { return seconds_; }      // their wall time
  void reset_counters() { tokens_ = 0, seconds_ = 0; }
  // Bytes of the workspace a pass over T tokens needs (exact; see LongForwardWorkspace).
  static size_t workspace_bytes(const model::ModelConfig& config, int64_t T);

 private:
  const model::LlamaModel& model_;
  ContextScoring* context_ = nullptr;
  model::LongForwardWorkspace ws_;
  int64_t tokens_ = 0;
  double seconds_ = 0;
};

// llama-perplexity's chunked perplexity (ppl_rules.h, mode llamacpp) over documents whose
// token lists already start with BOS (as llama.cpp tokenizes with add_special).
struct LlamaCppPerplexity {
  double nll_sum = 0, nll2_sum = 0;  // over scored tokens
  int64_t count = 0, chunks = 0;
  int64_t documents_used = 0, documents_skipped = 0;  // skipped: fewer than 2 * n_ctx tokens
  double ppl() const;
  double ppl_error() const;  // llama-perplexity's "+/-" figure
};
LlamaCppPerplexity llamacpp_perplexity(TokenScorer& scorer,
                                       const std::vector<std::vector<int32_t>>& documents,
                                       int64_t n_ctx, int32_t bos_id);

}  // namespace longctx::eval
