#include "eval/ppl_eval.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "eval/memory.h"
#include "eval/scoring.h"

namespace longctx::eval {

std::vector<std::vector<int32_t>> DocumentSet::tokens_for(const EvalModel& m, bool with_bos) const {
  std::vector<std::vector<int32_t>> docs;
  if (shards) {
    docs = shards->tokens;
    const int64_t V = m.loaded.model.config.vocab_size;
    for (size_t d = 0; d < docs.size(); ++d)
      for (const int32_t t : docs[d])
        LONGCTX_CHECK(t >= 0 && t < V, "--data '%s': document %zu has token %d outside model '%s''s "
                      "vocabulary of %lld (shards made with another tokenizer?)",
                      shards->prefix.c_str(), d, t, m.path.c_str(), static_cast<long long>(V));
  } else {
    docs = tokenize_documents(texts, m.tokenizer());
  }
  if (with_bos) {
    const int32_t bos = m.tokenizer().bos_id();
    for (auto& d : docs) d.insert(d.begin(), bos);
  }
  return docs;
}

std::string DocumentSet::source_name(int64_t doc) const {
  return shards ? shards->sources[static_cast<size_t>(doc)] : texts[static_cast<size_t>(doc)].source;
}

int64_t DocumentSet::size() const {
  return shards ? static_cast<int64_t>(shards->tokens.size()) : static_cast<int64_t>(texts.size());
}

namespace {

void say(const PplOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

// Per model: its samples (prefix / sliding) or whole documents with BOS (llamacpp).
struct ModelTokens {
  SampleSet samples;
  std::vector<std::vector<int32_t>> bos_documents;
};

// LongPPL key tokens of one tokenization: keys[sample][length index][position].
struct KeySet {
  std::vector<std::vector<std::vector<uint8_t>>> keys;
  std::vector<std::vector<float>> short_losses;  // [sample] (Lmax)
  std::string evaluator;
  bool ready = false;
};

std::vector<int32_t> stream_of(const Sample& s, const PplRules& r, int32_t bos) {
  std::vector<int32_t> x;
  x.reserve(s.tokens.size() + 1);
  if (r.bos) x.push_back(bos);
  x.insert(x.end(), s.tokens.begin(), s.tokens.end());
  return x;
}

void check_memory_up_front(const std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                           const PplOptions& o, int64_t longppl_window) {
  size_t weights = 0;
  for (const EvalModel& m : models) weights += m.weight_bytes();
  const PplRules& r = o.rules;
  const int64_t n_samples = r.max_samples;
  std::vector<int64_t> lengths = o.lengths;
  if (r.mode == PplMode::kLlamaCpp) lengths = {r.n_ctx};
  for (const int64_t L : lengths) {
    size_t workspace = 0;
    for (const EvalRow& row : rows) {
      model::ModelConfig c = models[static_cast<size_t>(row.model)].loaded.model.config;
      c.rope = row.rope;
      int64_t T = r.mode == PplMode::kSliding ? std::min(r.window, L) : L;
      if (o.longppl.enabled && r.mode != PplMode::kLlamaCpp)
        T = std::max(T, std::min(longppl_window, L));
      workspace = std::max(workspace, o.context != nullptr
                                          ? ContextScoring::bytes_needed(c, T, o.context->ranks())
                                          : TokenScorer::workspace_bytes(c, T));
    }
    MemoryEstimate e;
    e.add("weights", weights);
    e.add(strformat("forward workspace at %lld tokens%s", static_cast<long long>(L),
                    o.context != nullptr ? " (one rank's share)" : ""),
          workspace);
    // Sample streams, per-token losses and LongPPL masks (a few floats per sample token).
    e.add("per-token arrays", static_cast<size_t>(n_samples) * static_cast<size_t>(L + 1) * 16);
    check_memory(e, o.memory_limit, "eval ppl", L);
  }
}

}  // namespace

PplResult run_ppl(std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                  const DocumentSet& documents, const PplOptions& options) {
  const PplRules& rules = options.rules;
  rules.validate();
  LONGCTX_CHECK(!rows.empty(), "eval ppl: no model rows");
  LONGCTX_CHECK(rules.mode == PplMode::kLlamaCpp || !options.lengths.empty(),
                "--lengths: no lengths given");
  for (size_t i = 0; i < options.lengths.size(); ++i)
    LONGCTX_CHECK(options.lengths[i] >= 1 && (i == 0 || options.lengths[i] > options.lengths[i - 1]),
                  "--lengths: must be positive and ascending without repeats");
  PplResult result;
  result.options = options;
  const bool llamacpp = rules.mode == PplMode::kLlamaCpp;
  const int64_t L_max = llamacpp ? rules.n_ctx : options.lengths.back();
  const int64_t longppl_window = options.longppl.window > 0
                                     ? options.longppl.window
                                     : models[static_cast<size_t>(rows[0].model)].trained_length;
  check_memory_up_front(models, rows, options, longppl_window);

  // Tokens per model, and which models tokenize identically (they share samples).
  std::vector<ModelTokens> tokens(models.size());
  std::vector<int> tokenization(models.size());
  for (size_t m = 0; m < models.size(); ++m) {
    if (llamacpp) {
      tokens[m].bos_documents = documents.tokens_for(models[m], /*with_bos=*/true);
    } else {
      tokens[m].samples = cut_samples(documents.tokens_for(models[m], false),
                                      L_max + (rules.bos ? 0 : 1), rules.max_samples);
      LONGCTX_CHECK(!tokens[m].samples.samples.empty(),
                    "eval ppl: no document of model '%s''s tokens reaches the longest length %lld "
                    "(longest document: %lld tokens); give longer text or shorter --lengths",
                    models[m].path.c_str(), static_cast<long long>(L_max),
                    static_cast<long long>(tokens[m].samples.longest_document));
    }
    tokenization[m] = static_cast<int>(m);
    for (size_t p = 0; p < m; ++p) {
      const bool same = llamacpp ? tokens[p].bos_documents == tokens[m].bos_documents
                                 : [&] {
                                     const auto &a = tokens[p].samples.samples,
                                                &b = tokens[m].samples.samples;
                                     if (a.size() != b.size()) return false;
                                     for (size_t i = 0; i < a.size(); ++i)
                                       if (a[i].tokens != b[i].tokens) return false;
                                     return true;
                                   }();
      if (same) {
        tokenization[m] = tokenization[p];
        break;
      }
    }
  }
  result.models = nlohmann::json::array();
  for (size_t m = 0; m < models.size(); ++m) {
    const auto& c = models[m].loaded.model.config;
    result.models.push_back({{"path", models[m].path}, {"loaded", models[m].resolved},
                             {"name", models[m].name}, {"trained_length", models[m].trained_length},
                             {"parameters", c.num_parameters()}, {"tokenization", tokenization[m]},
                             {"native_rope", rope::format_rope_spec(models[m].native_rope)}});
  }

  std::map<int, KeySet> keysets;
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    const EvalRow& row = rows[ri];
    const EvalModel& em = models[static_cast<size_t>(row.model)];
    model::LlamaModel& model = apply_row(models, row);
    TokenScorer scorer(model, options.context);
    PplRow out;
    out.row = row;
    out.json_base = row.to_json(em);
    out.trained_length = em.trained_length;
    out.tokenization = tokenization[static_cast<size_t>(row.model)];
    const ModelTokens& mt = tokens[static_cast<size_t>(row.model)];
    say(options, strformat("[%zu/%zu] %s", ri + 1, rows.size(), row.label.c_str()));
    if (llamacpp) {
      out.llamacpp = llamacpp_perplexity(scorer, mt.bos_documents, rules.n_ctx, em.tokenizer().bos_id());
      LONGCTX_CHECK(out.llamacpp->count > 0,
                    "eval ppl --mode llamacpp: no document has the %lld tokens (2 chunks of --ctx "
                    "%lld) llama-perplexity requires",
                    static_cast<long long>(2 * rules.n_ctx), static_cast<long long>(rules.n_ctx));
      say(options, strformat("  llama-perplexity rules, n_ctx %lld: PPL = %.4f +/- %.5f over %lld "
                             "chunks (%lld tokens scored)",
                             static_cast<long long>(rules.n_ctx), out.llamacpp->ppl(),
                             out.llamacpp->ppl_error(), static_cast<long long>(out.llamacpp->chunks),
                             static_cast<long long>(out.llamacpp->count)));
      result.rows.push_back(std::move(out));
      continue;
    }
    const auto& samples = mt.samples.samples;
    out.documents_too_short = mt.samples.documents_too_short;
    for (const Sample& s : samples)
      out.sample_sources.push_back(documents.source_name(s.doc) + " @ " + std::to_string(s.offset));
    const int32_t bos = rules.bos ? em.tokenizer().bos_id() : 0;
    std::vector<std::vector<int32_t>> streams;
    for (const Sample& s : samples) streams.push_back(stream_of(s, rules, bos));

    KeySet& keys = keysets[out.tokenization];
    const bool evaluator = options.longppl.enabled && !keys.ready;
    if (evaluator) {
      keys.evaluator = row.label;
      keys.keys.assign(samples.size(), {});
      for (size_t s = 0; s < samples.size(); ++s) {
        keys.short_losses.emplace_back(static_cast<size_t>(L_max));
        scorer.sliding_losses(keys.short_losses.back().data(), streams[s], L_max, longppl_window,
                              std::max<int64_t>(1, longppl_window / 2));
      }
    }
    std::vector<float> losses(static_cast<size_t>(L_max));
    for (size_t li = 0; li < options.lengths.size(); ++li) {
      const int64_t L = options.lengths[li];
      PplAtLength at;
      at.length = L;
      at.beyond_trained = L > em.trained_length;
      at.samples = static_cast<int64_t>(samples.size());
      scorer.reset_counters();
      BucketAverager buckets(rules.bucket);
      std::vector<double> sample_means;
      double total = 0, key_total = 0;
      for (size_t s = 0; s < samples.size(); ++s) {
        if (rules.mode == PplMode::kSliding)
          scorer.sliding_losses(losses.data(), streams[s], L, rules.window, rules.effective_stride());
        else
          scorer.prefix_losses(losses.data(), streams[s], L);
        double sum = 0;
        for (int64_t p = 0; p < L; ++p) sum += losses[static_cast<size_t>(p)];
        sample_means.push_back(sum / static_cast<double>(L));
        total += sum;
        buckets.add_range(0, std::span<const float>(losses.data(), static_cast<size_t>(L)));
        if (options.longppl.enabled) {
          if (evaluator) {
            std::vector<uint8_t> k(static_cast<size_t>(L));
            for (int64_t p = 0; p < L; ++p) {
              const double lp_long = -losses[static_cast<size_t>(p)];
              const double lp_short = -keys.short_losses[s][static_cast<size_t>(p)];
              k[static_cast<size_t>(p)] = lp_long - lp_short > options.longppl.alpha &&
                                          lp_long > options.longppl.beta;
            }
            keys.keys[s].push_back(std::move(k));
          }
          const std::vector<uint8_t>& k = keys.keys[s][li];
          for (int64_t p = 0; p < L; ++p)
            if (k[static_cast<size_t>(p)]) key_total += losses[static_cast<size_t>(p)], ++at.key_tokens;
        }
      }
      at.tokens_scored = L * at.samples;
      at.mean_nll = total / static_cast<double>(at.tokens_scored);
      at.ppl = std::exp(at.mean_nll);
      at.nll_ci = mean_ci95(sample_means);
      at.buckets = buckets.buckets();
      at.seconds = scorer.seconds();
      at.tokens_per_second = at.seconds > 0 ? static_cast<double>(scorer.tokens()) / at.seconds : 0;
      if (at.key_tokens > 0) at.longppl = std::exp(key_total / static_cast<double>(at.key_tokens));
      const std::string ci = std::isnan(at.nll_ci.lo)
                                 ? std::string("(one sample: no CI)")
                                 : strformat("[%.4f, %.4f]", std::exp(at.nll_ci.lo), std::exp(at.nll_ci.hi));
      say(options, strformat("  length %6lld%s: ppl %9.4f  %s  LongPPL %s (%lld key "
                             "tokens)  %.0f tok/s",
                             static_cast<long long>(L), at.beyond_trained ? "*" : " ", at.ppl, ci.c_str(),
                             std::isnan(at.longppl) ? "-" : strformat("%.4f", at.longppl).c_str(),
                             static_cast<long long>(at.key_tokens), at.tokens_per_second));
      out.lengths.push_back(std::move(at));
    }
    if (evaluator) {
      keys.ready = true;
      keys.short_losses.clear();
    }
    result.rows.push_back(std::move(out));
  }
  for (const auto& [t, k] : keysets) result.longppl_evaluators.push_back(k.evaluator);

  // Changes against the baseline row, where it scored the same tokens.
  const auto base = std::find_if(result.rows.begin(), result.rows.end(),
                                 [](const PplRow& r) { return r.row.baseline; });
  if (base != result.rows.end() && !llamacpp)
    for (PplRow& r : result.rows)
      if (r.tokenization == base->tokenization)
        for (size_t li = 0; li < r.lengths.size(); ++li)
          r.lengths[li].delta_nll = r.lengths[li].mean_nll - base->lengths[li].mean_nll;
  return result;
}

}  // namespace longctx::eval
