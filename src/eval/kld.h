// `eval kld`: how far a model's next-token distributions move from a reference's over the
// same long documents: KL(P_reference || P_model) per position (in nats) and top-token
// agreement (the two argmaxes equal, lowest id on ties), averaged overall and in position
// buckets, at every length. The model may be another checkpoint, the same weights under
// another encoding, or another weight type. Samples and streams follow ppl_rules.h's prefix
// mode (same documents, BOS first, whole prefix in context); both sides must tokenize the
// documents identically (the reference's tokenizer is used; vocabularies must match).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/ppl_eval.h"
#include "eval/sources.h"
#include "eval/stats.h"

namespace longctx::eval {

struct KldOptions {
  std::vector<int64_t> lengths;  // ascending
  PplRules rules;                // prefix mode fields used: bos, bucket, max_samples
  size_t memory_limit = 0;
  std::function<void(const std::string&)> log;
};

struct KldAtLength {
  int64_t length = 0;
  bool beyond_trained = false;
  int64_t samples = 0, tokens = 0;
  double mean_kld = 0, max_kld = 0, top1_agreement = 0;  // agreement as a fraction
  MeanCi kld_ci;                                          // over samples' means
  double mean_nll = 0, reference_mean_nll = 0;            // of the true next token
  std::vector<Bucket> kld_buckets, agreement_buckets;
};

struct KldRow {
  EvalRow row;
  nlohmann::json json_base;
  std::vector<KldAtLength> lengths;
};

struct KldResult {
  KldOptions options;
  nlohmann::json reference;  // the reference row
  std::vector<KldRow> rows;
  std::vector<std::string> sample_sources;
};

// Per position t of one sequence: kld[t] = KL(softmax(ref_logits[t]) || softmax(logits[t]))
// and agree[t] = argmax equal, from final-norm hidden states (T, C) of both models; logits
// are made in chunks of rows (no (T, V) matrix). nll[t], ref_nll[t] = -log p(targets[t]).
void kl_per_position(float* kld, uint8_t* agree, float* nll, float* ref_nll,
                     const float* ref_hidden, const model::LlamaModel& reference,
                     const float* hidden, const model::LlamaModel& model, const int32_t* targets,
                     int64_t T);

KldResult run_kld(EvalModel& reference, const EvalRow& reference_row,
                  std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                  const DocumentSet& documents, const KldOptions& options);

nlohmann::json to_json(const KldResult& result);
// kld.json, kld.csv, kld_buckets.csv, kld_vs_length.svg, kld_position.svg,
// agreement_position.svg.
void write_kld_outputs(const KldResult& result, const std::string& dir);
std::string kld_summary(const KldResult& result);

}  // namespace longctx::eval
