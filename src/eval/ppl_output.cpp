// eval ppl results as files (JSON, CSV, SVG) and as the printed summary.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/plot.h"
#include "eval/output.h"
#include "eval/plots.h"
#include "eval/ppl_eval.h"

namespace longctx::eval {

namespace {

nlohmann::json ci_json(double lo, double hi) {
  if (std::isnan(lo) || std::isnan(hi)) return nullptr;
  return nlohmann::json::array({lo, hi});
}

nlohmann::json length_json(const PplAtLength& a) {
  nlohmann::json j = {{"length", a.length},
                      {"beyond_trained", a.beyond_trained},
                      {"samples", a.samples},
                      {"tokens_scored", a.tokens_scored},
                      {"mean_nll", a.mean_nll},
                      {"ppl", a.ppl},
                      {"nll_ci95", ci_json(a.nll_ci.lo, a.nll_ci.hi)},
                      {"ppl_ci95", ci_json(std::exp(a.nll_ci.lo), std::exp(a.nll_ci.hi))},
                      {"tokens_per_second", a.tokens_per_second},
                      {"seconds", a.seconds},
                      {"key_tokens", a.key_tokens},
                      {"longppl", std::isnan(a.longppl) ? nlohmann::json(nullptr) : nlohmann::json(a.longppl)},
                      {"buckets", to_json(a.buckets)}};
  if (a.delta_nll) {
    j["delta_nll_vs_baseline"] = *a.delta_nll;
    j["ppl_ratio_vs_baseline"] = std::exp(*a.delta_nll);
  }
  return j;
}

int64_t smallest_trained_length(const PplResult& r) {
  int64_t t = INT64_MAX;
  for (const PplRow& row : r.rows) t = std::min(t, row.trained_length);
  return t;
}

}  // namespace

nlohmann::json to_json(const PplResult& r) {
  const PplOptions& o = r.options;
  nlohmann::json j = {{"task", "ppl"}, {"rules", o.rules.to_json()}, {"lengths", o.lengths},
                      {"models", r.models}};
  j["longppl"] = {{"enabled", o.longppl.enabled && o.rules.mode != PplMode::kLlamaCpp},
                  {"window", o.longppl.window},
                  {"alpha", o.longppl.alpha},
                  {"beta", o.longppl.beta},
                  {"evaluators", r.longppl_evaluators},
                  {"definition", "key token: log p(long) - log p(window) > alpha and log p(long) > "
                                 "beta for the evaluator (first row of each tokenization); LongPPL "
                                 "= exp(mean NLL over key tokens)"}};
  j["rows"] = nlohmann::json::array();
  for (const PplRow& row : r.rows) {
    nlohmann::json rj = row.json_base;
    rj["tokenization"] = row.tokenization;
    rj["samples"] = row.sample_sources;
    rj["documents_too_short"] = row.documents_too_short;
    rj["results"] = nlohmann::json::array();
    for (const PplAtLength& a : row.lengths) rj["results"].push_back(length_json(a));
    if (row.llamacpp) {
      const LlamaCppPerplexity& l = *row.llamacpp;
      rj["llamacpp"] = {{"ppl", l.ppl()},         {"ppl_error", l.ppl_error()},
                        {"nll_mean", l.nll_sum / static_cast<double>(l.count)},
                        {"tokens_scored", l.count}, {"chunks", l.chunks},
                        {"documents_used", l.documents_used},
                        {"documents_skipped", l.documents_skipped}};
    }
    j["rows"].push_back(std::move(rj));
  }
  return j;
}

void write_ppl_outputs(const PplResult& r, const std::string& dir) {
  write_json(dir, "ppl.json", to_json(r));
  std::string csv = csv_line({"label", "model", "rope", "length", "beyond_trained", "samples",
                              "tokens_scored", "mean_nll", "ppl", "ppl_ci95_lo", "ppl_ci95_hi",
                              "longppl", "key_tokens", "tokens_per_second",
                              "delta_nll_vs_baseline", "ppl_ratio_vs_baseline"});
  std::string buckets = bucket_csv_header({"mean_nll"});
  for (const PplRow& row : r.rows) {
    const std::string model = row.json_base.value("model", ""), rope = row.json_base.value("rope", "");
    if (row.llamacpp) {
      const LlamaCppPerplexity& l = *row.llamacpp;
      csv += csv_line({row.row.label, model, rope, std::to_string(r.options.rules.n_ctx), "",
                       std::to_string(l.chunks), std::to_string(l.count),
                       csv_number(l.nll_sum / static_cast<double>(l.count)), csv_number(l.ppl()),
                       csv_number(l.ppl() - l.ppl_error()), csv_number(l.ppl() + l.ppl_error()),
                       "", "", "", "", ""});
      continue;
    }
    for (const PplAtLength& a : row.lengths) {
      csv += csv_line({row.row.label, model, rope, std::to_string(a.length),
                       a.beyond_trained ? "1" : "0", std::to_string(a.samples),
                       std::to_string(a.tokens_scored), csv_number(a.mean_nll), csv_number(a.ppl),
                       csv_number(std::exp(a.nll_ci.lo)), csv_number(std::exp(a.nll_ci.hi)),
                       csv_number(a.longppl), std::to_string(a.key_tokens),
                       csv_number(a.tokens_per_second),
                       a.delta_nll ? csv_number(*a.delta_nll) : "",
                       a.delta_nll ? csv_number(std::exp(*a.delta_nll)) : ""});
      buckets += bucket_csv_lines(row.row.label, a.length, {&a.buckets});
    }
  }
  write_output(dir, "ppl.csv", csv);
  if (r.options.rules.mode == PplMode::kLlamaCpp) return;
  write_output(dir, "ppl_buckets.csv", buckets);

  const int64_t trained = smallest_trained_length(r);
  const double x_lo = static_cast<double>(r.options.lengths.front());
  const double x_hi = static_cast<double>(r.options.lengths.back());
  PlotSpec p = length_plot("Perplexity against context length", "perplexity", true);
  p.subtitle = r.options.rules.mode == PplMode::kSliding ? "sliding windows" : "whole prefix in context";
  PlotSpec lp = length_plot("LongPPL (key tokens only) against context length", "LongPPL", true);
  bool any_longppl = false;
  for (const PplRow& row : r.rows) {
    p.series.push_back(
        length_series(row.row.label, row.lengths, [](const PplAtLength& a) { return a.ppl; }));
    lp.series.push_back(
        length_series(row.row.label, row.lengths, [](const PplAtLength& a) { return a.longppl; }));
    for (const PplAtLength& a : row.lengths) any_longppl |= !std::isnan(a.longppl);
  }
  add_trained_marker(p, trained, x_lo, x_hi);
  add_trained_marker(lp, trained, x_lo, x_hi);
  write_output(dir, "ppl_vs_length.svg", render_svg(p));
  if (any_longppl) write_output(dir, "longppl_vs_length.svg", render_svg(lp));

  // Per-position loss at the longest length.
  PlotSpec pos;
  const int64_t L = r.options.lengths.back();
  pos.title = strformat("Loss by position at length %lld", static_cast<long long>(L));
  pos.subtitle = strformat("mean NLL in buckets of %lld positions",
                           static_cast<long long>(r.options.rules.bucket));
  pos.x.label = "position in the sample (tokens)";
  pos.y.label = "mean NLL (nats)";
  for (const PplRow& row : r.rows) pos.series.push_back(bucket_series(row.row.label, row.lengths.back().buckets));
  add_trained_marker(pos, trained, 0, static_cast<double>(L));
  write_output(dir, "ppl_position.svg", render_svg(pos));
}

std::string ppl_summary(const PplResult& r) {
  std::vector<std::string> labels;
  for (const PplRow& row : r.rows) labels.push_back(row.row.label);
  const int w = label_width(labels);
  std::string s;
  if (r.options.rules.mode == PplMode::kLlamaCpp) {
    for (const PplRow& row : r.rows)
      s += pad_label(row.row.label, w) +
           strformat("Final estimate: PPL = %.4f +/- %.5f (%lld chunks of %lld, %lld tokens)\n",
                     row.llamacpp->ppl(), row.llamacpp->ppl_error(),
                     static_cast<long long>(row.llamacpp->chunks),
                     static_cast<long long>(r.options.rules.n_ctx),
                     static_cast<long long>(row.llamacpp->count));
    return s;
  }
  auto table = [&](const char* title, auto&& cell) {
    s += title;
    s += '\n';
    s += pad_label("row", w);
    for (const int64_t L : r.options.lengths) s += strformat(" %10lld", static_cast<long long>(L));
    s += "\n";
    for (const PplRow& row : r.rows) {
      s += pad_label(row.row.label, w);
      for (const PplAtLength& a : row.lengths) {
        s += ' ';
        s += cell(a);
      }
      s += "\n";
    }
  };
  // Exponent form from 1e5 up so a wide CI bound (few samples) keeps the columns aligned.
  auto num = [](double v, bool star) {
    if (std::isnan(v)) return strformat("%10s", "-");
    return strformat(std::fabs(v) < 1e5 ? "%9.3f%s" : "%9.3g%s", v, star ? "*" : " ");
  };
  table("perplexity (* = beyond the model's trained length)",
        [&](const PplAtLength& a) { return num(a.ppl, a.beyond_trained); });
  table("95% CI over samples, low end",
        [&](const PplAtLength& a) { return num(std::exp(a.nll_ci.lo), false); });
  table("95% CI over samples, high end",
        [&](const PplAtLength& a) { return num(std::exp(a.nll_ci.hi), false); });
  if (r.options.longppl.enabled) {
    s += "LongPPL key tokens chosen by: ";
    for (size_t i = 0; i < r.longppl_evaluators.size(); ++i)
      s.append(i ? "; " : "").append(r.longppl_evaluators[i]);
    s += "\n";
    table("LongPPL (key tokens only; - = no key token)",
          [&](const PplAtLength& a) { return num(a.longppl, a.beyond_trained); });
    table("key tokens", [&](const PplAtLength& a) {
      return strformat("%10lld", static_cast<long long>(a.key_tokens));
    });
  }
  table("tokens/s (forward passes)",
        [&](const PplAtLength& a) { return strformat("%10.0f", a.tokens_per_second); });
  const bool has_baseline = std::any_of(r.rows.begin(), r.rows.end(), [](const PplRow& row) {
    return !row.lengths.empty() && row.lengths[0].delta_nll.has_value();
  });
  if (has_baseline)
    table("change against the baseline (ppl ratio; - = other tokens)", [&](const PplAtLength& a) {
      return a.delta_nll ? strformat("%9.4fx", std::exp(*a.delta_nll)) : strformat("%10s", "-");
    });
  return s;
}

}  // namespace longctx::eval
