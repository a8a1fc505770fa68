#include "eval/scoring.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/cross_entropy.h"

namespace longctx::eval {

size_t TokenScorer::workspace_bytes(const model::ModelConfig& config, int64_t T) {
  return model::LongForwardWorkspace::bytes_needed(config, T, model::kLongForwardChunk);
}

const float* TokenScorer::hidden(std::span<const int32_t> inputs) {
  LONGCTX_CHECK(context_ == nullptr,
                "hidden states are not gathered under --context-parallel (only per-token losses)");
  Timer t;
  const float* h = model::forward_hidden_long(model_, inputs.data(),
                                              static_cast<int64_t>(inputs.size()), ws_);
  seconds_ += t.seconds();
  tokens_ += static_cast<int64_t>(inputs.size());
  return h;
}

void TokenScorer::losses(float* out, std::span<const int32_t> inputs,
                         std::span<const int32_t> targets) {
  LONGCTX_CHECK(inputs.size() == targets.size(), "TokenScorer::losses: %zu inputs, %zu targets",
                inputs.size(), targets.size());
  if (context_ != nullptr) {
    Timer t;
    context_->losses(out, model_, inputs, targets);
    seconds_ += t.seconds();
    tokens_ += static_cast<int64_t>(inputs.size());
    return;
  }
  const float* h = hidden(inputs);
  Timer t;
  const model::ModelConfig& c = model_.config;
  kernels::lm_head_cross_entropy_forward(out, h, model_.params.lm_head(), targets.data(),
                                         static_cast<int64_t>(inputs.size()), c.dim, c.vocab_size);
  seconds_ += t.seconds();
}

void TokenScorer::prefix_losses(float* out, std::span<const int32_t> stream, int64_t L) {
  LONGCTX_CHECK(L >= 1 && static_cast<int64_t>(stream.size()) >= L + 1,
                "prefix_losses: length %lld needs %lld stream tokens, have %zu",
                static_cast<long long>(L), static_cast<long long>(L + 1), stream.size());
  losses(out, stream.first(static_cast<size_t>(L)), stream.subspan(1, static_cast<size_t>(L)));
}

void TokenScorer::sliding_losses(float* out, std::span<const int32_t> stream, int64_t L,
                                 int64_t window, int64_t stride) {
  LONGCTX_CHECK(L >= 1 && static_cast<int64_t>(stream.size()) >= L + 1,
                "sliding_losses: length %lld needs %lld stream tokens, have %zu",
                static_cast<long long>(L), static_cast<long long>(L + 1), stream.size());
  LONGCTX_CHECK(window >= 1 && stride >= 1 && stride <= window,
                "sliding_losses: window %lld, stride %lld", static_cast<long long>(window),
                static_cast<long long>(stride));
  std::vector<int32_t> targets;
  std::vector<float> window_losses;
  int64_t scored = 0;  // targets [0, scored) are done
  for (int64_t a = 0; scored < L; a += stride) {
    const int64_t end = std::min(a + window, L);  // inputs [a, end), targets stream[a+1 .. end]
    const int64_t n = end - a;
    targets.assign(stream.begin() + a + 1, stream.begin() + end + 1);
    for (int64_t p = a; p < scored; ++p) targets[static_cast<size_t>(p - a)] = kernels::kIgnoreIndex;
    window_losses.resize(static_cast<size_t>(n));
    losses(window_losses.data(), stream.subspan(static_cast<size_t>(a), static_cast<size_t>(n)),
           targets);
    for (int64_t p = scored; p < end; ++p) out[p] = window_losses[static_cast<size_t>(p - a)];
    scored = end;
  }
}

double LlamaCppPerplexity::ppl() const {
  return count > 0 ? std::exp(nll_sum / static_cast<double>(count)) : NAN;
}

double LlamaCppPerplexity::ppl_error() const {
  if (count < 2) return NAN;
  const double n = static_cast<double>(count), mean = nll_sum / n;
  const double var = nll2_sum / n - mean * mean;
  return var > 0 ? std::sqrt(var / (n - 1)) * ppl() : NAN;
}

LlamaCppPerplexity llamacpp_perplexity(TokenScorer& scorer,
                                       const std::vector<std::vector<int32_t>>& documents,
                                       int64_t n_ctx, int32_t bos_id) {
  LlamaCppPerplexity r;
  const int64_t first = n_ctx / 2;
  std::vector<int32_t> inputs(static_cast<size_t>(n_ctx)), targets(static_cast<size_t>(n_ctx));
  std::vector<float> losses(static_cast<size_t>(n_ctx));
  for (const std::vector<int32_t>& doc : documents) {
    const int64_t n = static_cast<int64_t>(doc.size());
    if (n < 2 * n_ctx) {
      ++r.documents_skipped;
      continue;
    }
    ++r.documents_used;
    for (int64_t c = 0; c < n / n_ctx; ++c) {
      const int64_t start = c * n_ctx;
      std::copy(doc.begin() + start, doc.begin() + start + n_ctx, inputs.begin());
      inputs[0] = bos_id;
      // Position j predicts doc[start + j + 1]; only j in [first, n_ctx - 1) counts.
      std::fill(targets.begin(), targets.end(), kernels::kIgnoreIndex);
      for (int64_t j = first; j < n_ctx - 1; ++j)
        targets[static_cast<size_t>(j)] = doc[static_cast<size_t>(start + j + 1)];
      scorer.losses(losses.data(), inputs, targets);
      for (int64_t j = first; j < n_ctx - 1; ++j) {
        const double v = losses[static_cast<size_t>(j)];
        r.nll_sum += v;
        r.nll2_sum += v * v;
        ++r.count;
      }
      ++r.chunks;
    }
  }
  return r;
}

}  // namespace longctx::eval
