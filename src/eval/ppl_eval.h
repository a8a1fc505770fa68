// `eval ppl`: perplexity against context length for every (model, encoding) row over the
// same documents, with per-position loss in buckets, a confidence interval over samples,
// throughput, LongPPL, and changes against a baseline model. Rules: ppl_rules.h.
//
// LongPPL (Fang et al., "What is Wrong with Perplexity for Long-context Language
// Modeling?", arXiv 2410.23771): perplexity over the key tokens only. A target is a key
// token at length L when, for the evaluator, log p_long - log p_short > alpha (the long
// context helps markedly) and log p_long > beta (it is predicted well with it), where
// p_long is the probability with the whole sample prefix up to L in context and p_short
// with at most `window` tokens (sliding windows moved by window/2). The evaluator is the
// first row of each tokenization (rows with the same tokens share its key tokens, so their
// LongPPLs are comparable); the paper's defaults are alpha = 2, beta = -2.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/context_scoring.h"
#include "eval/ppl_rules.h"
#include "eval/scoring.h"
#include "eval/sources.h"
#include "eval/stats.h"

namespace longctx::eval {

// Documents for every row: text (tokenized by each model's tokenizer) or token shards.
struct DocumentSet {
  std::vector<TextDocument> texts;
  std::optional<ShardDocuments> shards;
  std::vector<std::vector<int32_t>> tokens_for(const EvalModel& model, bool with_bos) const;
  std::string source_name(int64_t doc) const;
  int64_t size() const;
};

struct LongPplOptions {
  bool enabled = true;
  int64_t window = 0;   // short context in tokens; 0 = the evaluator's trained length
  double alpha = 2.0;   // log-probability gain threshold
  double beta = -2.0;   // long-context log-probability threshold
};

struct PplOptions {
  std::vector<int64_t> lengths;  // ascending, distinct
  PplRules rules;
  LongPplOptions longppl;
  size_t memory_limit = 0;       // bytes; 0 = no check (per rank under context parallelism)
  std::function<void(const std::string&)> log;  // progress lines (may be empty)
  // Null: one process. Else every forward pass is split over its MPI ranks (each rank calls
  // run_ppl with the same arguments and gets the same result; eval/context_scoring.h).
  ContextScoring* context = nullptr;
};

struct PplAtLength {
  int64_t length = 0;
  bool beyond_trained = false;
  int64_t samples = 0, tokens_scored = 0;
  double mean_nll = 0, ppl = 0;
  MeanCi nll_ci;                    // over samples' mean NLLs
  double tokens_per_second = 0, seconds = 0;
  std::vector<Bucket> buckets;      // per-position mean NLL
  int64_t key_tokens = 0;           // LongPPL
  double longppl = NAN;             // NaN when no key token or LongPPL is off
  std::optional<double> delta_nll;  // mean_nll - baseline's (same tokens only)
};

struct PplRow {
  EvalRow row;
  nlohmann::json json_base;  // row.to_json(models): label, model, rope, trained length
  int64_t trained_length = 0;
  int tokenization = 0;  // rows with equal numbers share samples (and LongPPL key tokens)
  std::vector<PplAtLength> lengths;        // prefix / sliding modes
  std::optional<LlamaCppPerplexity> llamacpp;  // llamacpp mode
  std::vector<std::string> sample_sources; // "source @ token offset"
  int64_t documents_too_short = 0;
};

struct PplResult {
  PplOptions options;
  std::vector<PplRow> rows;
  std::vector<std::string> longppl_evaluators;  // per tokenization, the evaluator's label
  nlohmann::json models;                         // per model: path, trained length, sizes
};

PplResult run_ppl(std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                  const DocumentSet& documents, const PplOptions& options);

nlohmann::json to_json(const PplResult& result);
// ppl.json, ppl.csv, ppl_buckets.csv, and plots ppl_vs_length.svg, ppl_position.svg
// (per-position loss at the longest length), longppl_vs_length.svg.
void write_ppl_outputs(const PplResult& result, const std::string& dir);
// The table printed after a run: rules, perplexity per row and length (beyond the trained
// length marked *), CI, LongPPL, tokens/s, baseline changes.
std::string ppl_summary(const PplResult& result);

}  // namespace longctx::eval
