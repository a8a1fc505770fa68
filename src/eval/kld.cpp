#include "eval/kld.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/timer.h"
#include "eval/memory.h"
#include "kernels/cross_entropy.h"
#include "model/forward_long.h"
#include "model/sampling.h"

namespace longctx::eval {

namespace {
constexpr int64_t kLogitRows = 64;  // positions whose logits exist at once: (64, V) per model

// log-softmax of one row (V) in double: out[i] = logits[i] - logsumexp(logits).
void log_softmax(double* out, const float* logits, int64_t V) {
  double mx = logits[0];
  for (int64_t i = 1; i < V; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double z = 0;
  for (int64_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(z);
  for (int64_t i = 0; i < V; ++i) out[i] = static_cast<double>(logits[i]) - lse;
}
}  // namespace

void kl_per_position(float* kld, uint8_t* agree, float* nll, float* ref_nll,
                     const float* ref_hidden, const model::LlamaModel& reference,
                     const float* hidden, const model::LlamaModel& model, const int32_t* targets,
                     int64_t T) {
  const int64_t V = model.config.vocab_size, C = model.config.dim, Cr = reference.config.dim;
  LONGCTX_CHECK(reference.config.vocab_size == V,
                "eval kld: vocabularies differ (reference %lld, model %lld tokens)",
                static_cast<long long>(reference.config.vocab_size), static_cast<long long>(V));
  std::vector<float> lr(static_cast<size_t>(kLogitRows * V)), lm(lr.size());  // (rows, V) each
  for (int64_t start = 0; start < T; start += kLogitRows) {
    const int64_t m = std::min(kLogitRows, T - start);
    kernels::lm_head_logits(lr.data(), ref_hidden + start * Cr, reference.params.lm_head(), m, Cr, V);
    kernels::lm_head_logits(lm.data(), hidden + start * C, model.params.lm_head(), m, C, V);
#pragma omp parallel
    {
      std::vector<double> p(static_cast<size_t>(V)), q(static_cast<size_t>(V));
#pragma omp for schedule(static)
      for (int64_t i = 0; i < m; ++i) {
        const float* a = lr.data() + i * V;
        const float* b = lm.data() + i * V;
        log_softmax(p.data(), a, V);
        log_softmax(q.data(), b, V);
        double kl = 0;
        for (int64_t v = 0; v < V; ++v) kl += std::exp(p[v]) * (p[v] - q[v]);
        const int64_t t = start + i;
        kld[t] = static_cast<float>(std::max(kl, 0.0));
        agree[t] = model::argmax(a, V) == model::argmax(b, V);
        nll[t] = static_cast<float>(-q[static_cast<size_t>(targets[t])]);
        ref_nll[t] = static_cast<float>(-p[static_cast<size_t>(targets[t])]);
      }
    }
  }
}

KldResult run_kld(EvalModel& reference, const EvalRow& reference_row,
                  std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                  const DocumentSet& documents, const KldOptions& o) {
  LONGCTX_CHECK(!o.lengths.empty(), "--lengths: no lengths given");
  for (size_t i = 1; i < o.lengths.size(); ++i)
    LONGCTX_CHECK(o.lengths[i] > o.lengths[i - 1], "--lengths: must be ascending without repeats");
  o.rules.validate();
  const int64_t L_max = o.lengths.back();
  KldResult result;
  result.options = o;
  reference.loaded.model.config.rope = reference_row.rope;
  result.reference = reference_row.to_json(reference);
  const model::LlamaModel& ref = reference.loaded.model;
  for (const EvalModel& m : models)
    LONGCTX_CHECK(m.loaded.model.config.vocab_size == ref.config.vocab_size,
                  "eval kld: --model '%s' has %lld tokens, the reference %lld: the distributions "
                  "are not comparable",
                  m.path.c_str(), static_cast<long long>(m.loaded.model.config.vocab_size),
                  static_cast<long long>(ref.config.vocab_size));

  // Memory, before anything runs: weights, one forward workspace, the reference's hidden
  // states kept for the comparison, logits rows and per-position arrays.
  size_t weights = reference.weight_bytes();
  for (const EvalModel& m : models) weights += m.weight_bytes();
  for (const int64_t L : o.lengths) {
    size_t ws = model::LongForwardWorkspace::bytes_needed(ref.config, L, model::kLongForwardChunk);
    for (const EvalRow& r : rows) {
      model::ModelConfig c = models[static_cast<size_t>(r.model)].loaded.model.config;
      c.rope = r.rope;
      ws = std::max(ws, model::LongForwardWorkspace::bytes_needed(c, L, model::kLongForwardChunk));
    }
    MemoryEstimate e;
    e.add("weights", weights);
    e.add(strformat("forward workspace at %lld tokens", static_cast<long long>(L)), ws);
    e.add("reference hidden states", static_cast<size_t>(L * ref.config.dim) * sizeof(float));
    e.add("logits rows", static_cast<size_t>(2 * kLogitRows * ref.config.vocab_size) * sizeof(float));
    e.add("per-token arrays", static_cast<size_t>(L + 1) * 32);
    check_memory(e, o.memory_limit, "eval kld", L);
  }

  const SampleSet set = cut_samples(documents.tokens_for(reference, false),
                                    L_max + (o.rules.bos ? 0 : 1), o.rules.max_samples);
  LONGCTX_CHECK(!set.samples.empty(),
                "eval kld: no document reaches the longest length %lld (longest: %lld tokens)",
                static_cast<long long>(L_max), static_cast<long long>(set.longest_document));
  for (const Sample& s : set.samples)
    result.sample_sources.push_back(documents.source_name(s.doc) + " @ " + std::to_string(s.offset));
  const int32_t bos = reference.tokenizer().bos_id();

  model::LongForwardWorkspace ws;
  std::vector<float> ref_hidden, kld(static_cast<size_t>(L_max)), nll(kld.size()), ref_nll(kld.size());
  std::vector<uint8_t> agree(kld.size());
  for (const EvalRow& row : rows) {
    KldRow out;
    out.row = row;
    out.json_base = row.to_json(models[static_cast<size_t>(row.model)]);
    result.rows.push_back(std::move(out));
  }
  for (const int64_t L : o.lengths) {
    std::vector<BucketAverager> kb(rows.size(), BucketAverager(o.rules.bucket)),
        ab(rows.size(), BucketAverager(o.rules.bucket));
    std::vector<std::vector<double>> sample_means(rows.size());
    std::vector<KldAtLength> at(rows.size());
    Timer timer;
    for (const Sample& s : set.samples) {
      std::vector<int32_t> stream;
      if (o.rules.bos) stream.push_back(bos);
      stream.insert(stream.end(), s.tokens.begin(), s.tokens.end());
      const int32_t* targets = stream.data() + 1;  // (L)
      const float* h = model::forward_hidden_long(ref, stream.data(), L, ws);
      ref_hidden.assign(h, h + L * ref.config.dim);
      for (size_t r = 0; r < rows.size(); ++r) {
        const model::LlamaModel& m = apply_row(models, rows[r]);
        const float* hm = model::forward_hidden_long(m, stream.data(), L, ws);
        kl_per_position(kld.data(), agree.data(), nll.data(), ref_nll.data(), ref_hidden.data(), ref,
                        hm, m, targets, L);
        double sum = 0;
        for (int64_t t = 0; t < L; ++t) {
          sum += kld[static_cast<size_t>(t)];
          at[r].max_kld = std::max(at[r].max_kld, static_cast<double>(kld[static_cast<size_t>(t)]));
          at[r].top1_agreement += agree[static_cast<size_t>(t)];
          at[r].mean_nll += nll[static_cast<size_t>(t)];
          at[r].reference_mean_nll += ref_nll[static_cast<size_t>(t)];
          kb[r].add(t, kld[static_cast<size_t>(t)]);
          ab[r].add(t, agree[static_cast<size_t>(t)]);
        }
        sample_means[r].push_back(sum / static_cast<double>(L));
        at[r].mean_kld += sum;
      }
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      KldAtLength& a = at[r];
      const EvalModel& em = models[static_cast<size_t>(rows[r].model)];
      a.length = L;
      a.beyond_trained = L > std::min(em.trained_length, reference.trained_length);
      a.samples = static_cast<int64_t>(set.samples.size());
      a.tokens = a.samples * L;
      const double n = static_cast<double>(a.tokens);
      a.mean_kld /= n;
      a.top1_agreement /= n;
      a.mean_nll /= n;
      a.reference_mean_nll /= n;
      a.kld_ci = mean_ci95(sample_means[r]);
      a.kld_buckets = kb[r].buckets();
      a.agreement_buckets = ab[r].buckets();
      if (o.log)
        o.log(strformat("length %6lld %-44s KL %.5f nats  top-1 agreement %.2f%%  (%.1f s)",
                        static_cast<long long>(L), rows[r].label.c_str(), a.mean_kld,
                        100 * a.top1_agreement, timer.seconds()));
      result.rows[r].lengths.push_back(std::move(a));
    }
  }
  return result;
}

}  // namespace longctx::eval
