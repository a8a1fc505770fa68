// eval kld results as files (JSON, CSV, SVG) and as the printed summary.
#include <cmath>

#include "core/error.h"
#include "eval/kld.h"
#include "eval/output.h"
#include "eval/plots.h"

namespace longctx::eval {

nlohmann::json to_json(const KldResult& r) {
  nlohmann::json j = {{"task", "kld"},
                      {"rules", r.options.rules.to_json()},
                      {"lengths", r.options.lengths},
                      {"reference", r.reference},
                      {"samples", r.sample_sources},
                      {"definition", "KL(P_reference || P_model) in nats per position, natural log, "
                                     "softmax in double; top-1 agreement = equal argmax (lowest "
                                     "id on ties)"}};
  j["rows"] = nlohmann::json::array();
  for (const KldRow& row : r.rows) {
    nlohmann::json rj = row.json_base;
    rj["results"] = nlohmann::json::array();
    for (const KldAtLength& a : row.lengths) {
      nlohmann::json ci = nullptr;
      if (!std::isnan(a.kld_ci.lo)) ci = nlohmann::json::array({a.kld_ci.lo, a.kld_ci.hi});
      rj["results"].push_back({{"length", a.length},
                               {"beyond_trained", a.beyond_trained},
                               {"samples", a.samples},
                               {"tokens", a.tokens},
                               {"mean_kld", a.mean_kld},
                               {"kld_ci95", ci},
                               {"max_kld", a.max_kld},
                               {"top1_agreement", a.top1_agreement},
                               {"mean_nll", a.mean_nll},
                               {"reference_mean_nll", a.reference_mean_nll},
                               {"kld_buckets", to_json(a.kld_buckets)},
                               {"agreement_buckets", to_json(a.agreement_buckets)}});
    }
    j["rows"].push_back(std::move(rj));
  }
  return j;
}

void write_kld_outputs(const KldResult& r, const std::string& dir) {
  write_json(dir, "kld.json", to_json(r));
  std::string csv = csv_line({"label", "length", "beyond_trained", "samples", "tokens", "mean_kld",
                              "kld_ci95_lo", "kld_ci95_hi", "max_kld", "top1_agreement",
                              "mean_nll", "reference_mean_nll"});
  std::string buckets = bucket_csv_header({"mean_kld", "top1_agreement"});
  for (const KldRow& row : r.rows)
    for (const KldAtLength& a : row.lengths) {
      csv += csv_line({row.row.label, std::to_string(a.length), a.beyond_trained ? "1" : "0",
                       std::to_string(a.samples), std::to_string(a.tokens), csv_number(a.mean_kld),
                       csv_number(a.kld_ci.lo), csv_number(a.kld_ci.hi), csv_number(a.max_kld),
                       csv_number(a.top1_agreement), csv_number(a.mean_nll),
                       csv_number(a.reference_mean_nll)});
      buckets += bucket_csv_lines(row.row.label, a.length, {&a.kld_buckets, &a.agreement_buckets});
    }
  write_output(dir, "kld.csv", csv);
  write_output(dir, "kld_buckets.csv", buckets);

  const std::string ref = r.reference.value("label", std::string("reference"));
  PlotSpec p = length_plot("KL divergence from the reference against context length",
                           "mean KL (nats per token)", false);
  p.subtitle = "reference: " + ref;
  PlotSpec agree = length_plot("Top-token agreement with the reference", "agreement (%)", false);
  agree.subtitle = p.subtitle;
  const int64_t L = r.options.lengths.back();
  PlotSpec kpos, apos;
  kpos.title = strformat("KL divergence by position at length %lld", static_cast<long long>(L));
  apos.title = strformat("Top-token agreement by position at length %lld", static_cast<long long>(L));
  kpos.subtitle = apos.subtitle = strformat("reference: %s; buckets of %lld positions", ref.c_str(),
                                            static_cast<long long>(r.options.rules.bucket));
  kpos.x.label = apos.x.label = "position in the sample (tokens)";
  kpos.y.label = "mean KL (nats)";
  apos.y.label = "agreement (%)";
  for (const KldRow& row : r.rows) {
    p.series.push_back(
        length_series(row.row.label, row.lengths, [](const KldAtLength& x) { return x.mean_kld; }));
    agree.series.push_back(length_series(
        row.row.label, row.lengths, [](const KldAtLength& x) { return 100 * x.top1_agreement; }));
    kpos.series.push_back(bucket_series(row.row.label, row.lengths.back().kld_buckets));
    apos.series.push_back(bucket_series(row.row.label, row.lengths.back().agreement_buckets, 100));
  }
  write_output(dir, "kld_vs_length.svg", render_svg(p));
  write_output(dir, "agreement_vs_length.svg", render_svg(agree));
  write_output(dir, "kld_position.svg", render_svg(kpos));
  write_output(dir, "agreement_position.svg", render_svg(apos));
}

std::string kld_summary(const KldResult& r) {
  std::string s = "reference: " + r.reference.value("label", std::string()) + "\n";
  std::vector<std::string> labels;
  for (const KldRow& row : r.rows) labels.push_back(row.row.label);
  const int w = label_width(labels);
  s += pad_label("row", w) + strformat("%10s %12s %12s %10s\n", "length", "mean KL", "max KL", "top-1 %");
  for (const KldRow& row : r.rows)
    for (const KldAtLength& a : row.lengths)
      s += pad_label(row.row.label, w) +
           strformat("%9lld%s %12.5f %12.4f %10.2f\n", static_cast<long long>(a.length), a.beyond_trained ? "*" : " ", a.mean_kld,
                     a.max_kld, 100 * a.top1_agreement);
  return s;
}

}  // namespace longctx::eval
