#include "eval/probes.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"
#include "data/tasks.h"
#include "eval/memory.h"
#include "eval/rouge.h"
#include "model/decode.h"

namespace longctx::eval {

const char* probe_task_name(ProbeTask task) {
  switch (task) {
    case ProbeTask::kFsr: return "fsr";
    case ProbeTask::kPasskey: return "passkey";
    case ProbeTask::kNiah: return "niah";
  }
  return "unknown";
}

std::vector<int64_t> paper_fsr_lengths() {
  return {256, 1024, 2048, 4096, 8192, 10240, 12288, 14336, 16384, 20480, 24576, 28672, 30720};
}

int64_t ProbeOptions::resolved_max_new_tokens(ProbeTask task) const {
  if (max_new_tokens > 0) return max_new_tokens;
  return task == ProbeTask::kFsr ? 64 : 16;
}

double fsr_score(const std::string& generated, const std::string& answer) {
  return 100.0 * rouge_l(data::first_sentence(generated), answer).f;
}

bool answer_matches(const std::string& generated, const std::string& answer) {
  const bool numeric = !answer.empty() && std::all_of(answer.begin(), answer.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
  if (numeric) {
    const size_t a = generated.find_first_of("0123456789");
    if (a == std::string::npos) return false;
    size_t b = a;
    while (b < generated.size() && std::isdigit(static_cast<unsigned char>(generated[b]))) ++b;
    return generated.compare(a, b - a, answer) == 0 && b - a == answer.size();
  }
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  return !answer.empty() && lower(generated).find(lower(answer)) != std::string::npos;
}

namespace {

struct Example {
  data::TaskExample task;
  int64_t length = 0;
  double target_depth = -1;
  int64_t index = 0;
  std::string source;
};

uint64_t trial_seed(uint64_t seed, size_t li, size_t di, int64_t index) {
  return seed * 1000003ull + li * 7919ull + di * 104729ull + static_cast<uint64_t>(index);
}

std::vector<Example> make_examples(ProbeTask task, const io::Tokenizer& tok,
                                   const std::vector<TextDocument>& docs,
                                   const std::string& haystack, const ProbeOptions& o) {
  std::vector<Example> out;
  for (size_t li = 0; li < o.lengths.size(); ++li) {
    const int64_t L = o.lengths[li];
    if (task == ProbeTask::kFsr) {
      int64_t made = 0;
      for (size_t d = 0; d < docs.size() && made < o.count; ++d) {
        Example e;
        try {
          data::FirstSentenceOptions fo;
          fo.target_tokens = L;
          fo.seed = o.seed;
          e.task = data::make_first_sentence(tok, docs[d].text, fo);
        } catch (const Error&) {
          continue;  // too short for this length (or no first sentence): the next document
        }
        e.length = L;
        e.index = made++;
        e.source = docs[d].source;
        out.push_back(std::move(e));
      }
      LONGCTX_CHECK(made > 0, "eval fsr: no --text document is long enough for a %lld-token "
                    "prompt (documents are tried longest first)", static_cast<long long>(L));
      continue;
    }
    for (size_t di = 0; di < o.depths.size(); ++di)
      for (int64_t i = 0; i < o.count; ++i) {
        Example e;
        e.length = L;
        e.target_depth = o.depths[di];
        e.index = i;
        const uint64_t seed = trial_seed(o.seed, li, di, i);
        if (task == ProbeTask::kPasskey) {
          e.task = data::make_passkey(tok, {L, o.depths[di], seed});
        } else {
          data::NeedleOptions no;
          no.target_tokens = L;
          no.depth = o.depths[di];
          no.seed = seed;
          no.needle = o.needle;
          no.question = o.question;
          no.answer = o.answer;
          e.task = data::make_needle(tok, haystack, no);
        }
        out.push_back(std::move(e));
      }
  }
  return out;
}

void check_probe_memory(const std::vector<EvalModel>& models, const std::vector<EvalRow>& rows,
                        const ProbeOptions& o, int64_t max_new, const char* what) {
  size_t weights = 0;
  for (const EvalModel& m : models) weights += m.weight_bytes();
  for (const int64_t L : o.lengths) {
    size_t cache = 0;
    for (const EvalRow& r : rows) {
      const model::ModelConfig& c = models[static_cast<size_t>(r.model)].loaded.model.config;
      const int64_t D = c.resolved_head_dim(), KD = c.n_kv_heads * D, QD = c.n_heads * D;
      const int64_t cap = L + max_new;
      // Keys and values, the RoPE table, and one prefill chunk's activations.
      const int64_t floats = c.n_layers * 2 * cap * KD + cap * D +
                             model::kPrefillChunk * (8 * c.dim + 3 * QD + 2 * KD + 3 * c.ffn_dim);
      cache = std::max(cache, static_cast<size_t>(floats) * sizeof(float));
    }
    MemoryEstimate e;
    e.add("weights", weights);
    e.add(strformat("KV cache for %lld + %lld tokens", static_cast<long long>(L),
                    static_cast<long long>(max_new)), cache);
    check_memory(e, o.memory_limit, what, L);
  }
}

void aggregate(ProbeRow& row, const ProbeOptions& o, ProbeTask task) {
  for (const int64_t L : o.lengths) {
    std::vector<double> all;
    for (const ProbeTrial& t : row.trials)
      if (t.length == L) all.push_back(t.score);
    row.by_length.push_back({L, -1, mean_ci95(all)});
    if (task == ProbeTask::kFsr) continue;
    for (const double d : o.depths) {
      std::vector<double> cell;
      for (const ProbeTrial& t : row.trials)
        if (t.length == L && t.target_depth == d) cell.push_back(t.score);
      row.by_length_depth.push_back({L, d, mean_ci95(cell)});
    }
  }
  std::vector<double> means;
  for (const ScoreCell& c : row.by_length) means.push_back(c.score.mean);
  row.effective_length = effective_length(o.lengths, means);
}

}  // namespace

ProbeResult run_probe(ProbeTask task, std::vector<EvalModel>& models,
                      const std::vector<EvalRow>& rows, const std::vector<TextDocument>& documents,
                      const ProbeOptions& o) {
  const char* name = probe_task_name(task);
  LONGCTX_CHECK(!o.lengths.empty(), "--lengths: no lengths given");
  for (size_t i = 0; i < o.lengths.size(); ++i)
    LONGCTX_CHECK(o.lengths[i] >= 2 && (i == 0 || o.lengths[i] > o.lengths[i - 1]),
                  "--lengths: must be >= 2 and ascending without repeats");
  LONGCTX_CHECK(o.count >= 1, "--count: must be >= 1, got %lld", static_cast<long long>(o.count));
  for (const double d : o.depths)
    LONGCTX_CHECK(d >= 0 && d <= 1, "--depths: %g is outside [0, 1]", d);
  LONGCTX_CHECK(task == ProbeTask::kPasskey || !documents.empty(),
                "eval %s: needs --text (real text)", name);
  const int64_t max_new = o.resolved_max_new_tokens(task);
  check_probe_memory(models, rows, o, max_new, (std::string("eval ") + name).c_str());

  std::vector<TextDocument> docs = documents;  // fsr: longest first
  std::stable_sort(docs.begin(), docs.end(),
                   [](const auto& a, const auto& b) { return a.text.size() > b.text.size(); });
  std::string haystack;
  if (task == ProbeTask::kNiah)
    for (const TextDocument& d : docs) {
      if (haystack.size() >= (64u << 20)) break;
      haystack += d.text + "\n\n";
    }

  ProbeResult result;
  result.task = task;
  result.options = o;
  std::map<int, std::vector<Example>> examples;  // per model (its tokenizer)
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    const EvalRow& row = rows[ri];
    EvalModel& em = models[static_cast<size_t>(row.model)];
    const io::Tokenizer& tok = em.tokenizer();
    if (!examples.count(row.model)) {
      if (o.log) o.log(strformat("building %s prompts with %s's tokenizer", name, em.name.c_str()));
      examples[row.model] = make_examples(task, tok, docs, haystack, o);
    }
    const model::LlamaModel& m = apply_row(models, row);
    model::KVCache cache(m.config, o.lengths.back() + max_new);
    model::DecodeOptions d;
    d.sampling.temperature = 0;
    d.max_new_tokens = max_new;
    d.stop_tokens = {tok.eos_id()};
    d.stop_strings = task == ProbeTask::kFsr ? std::vector<std::string>{". ", "! ", "? ", "\n"}
                                             : std::vector<std::string>{"\n", "."};
    d.include_stop_string = task == ProbeTask::kFsr;
    d.detokenize = [&tok](std::span<const int32_t> ids) {
      return tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
    };
    ProbeRow out;
    out.row = row;
    out.json_base = row.to_json(em);
    out.trained_length = em.trained_length;
    if (o.log) o.log(strformat("[%zu/%zu] %s", ri + 1, rows.size(), row.label.c_str()));
    for (const Example& e : examples[row.model]) {
      const std::vector<int32_t> prompt = tok.encode(e.task.prompt, /*add_bos=*/true);
      LONGCTX_CHECK(static_cast<int64_t>(prompt.size()) == e.length,
                    "eval %s: a prompt meant to be %lld tokens is %zu tokens with %s's tokenizer "
                    "(prompts are never cut)", name, static_cast<long long>(e.length),
                    prompt.size(), em.name.c_str());
      cache.reset();
      const model::DecodeResult g = model::decode(m, cache, prompt, d);
      ProbeTrial t;
      t.length = e.length;
      t.depth = e.task.depth;
      t.target_depth = e.target_depth;
      t.index = e.index;
      t.source = e.source;
      t.answer = e.task.answer;
      t.output = g.text;
      if (task == ProbeTask::kFsr) {
        t.prediction = data::first_sentence(g.text);
        t.score = fsr_score(g.text, e.task.answer);
      } else {
        t.prediction = g.text;
        t.score = answer_matches(g.text, e.task.answer) ? 100.0 : 0.0;
      }
      t.stop_reason = model::stop_reason_name(g.reason);
      t.prefill_seconds = g.prefill_seconds;
      t.decode_seconds = g.decode_seconds;
      out.trials.push_back(std::move(t));
    }
    aggregate(out, o, task);
    if (o.log)
      for (const ScoreCell& c : out.by_length)
        o.log(strformat("  length %6lld%s: score %6.1f over %lld trials",
                        static_cast<long long>(c.length), c.length > em.trained_length ? "*" : " ",
                        c.score.mean, static_cast<long long>(c.score.n)));
    result.rows.push_back(std::move(out));
  }
  return result;
}

}  // namespace longctx::eval
