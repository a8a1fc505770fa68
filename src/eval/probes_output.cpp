// Probe results as files (JSON, CSV, SVG line plots and heatmaps) and as the printed summary.
#include <cmath>

#include "core/error.h"
#include "core/plot.h"
#include "eval/heatmap.h"
#include "eval/output.h"
#include "eval/plots.h"
#include "eval/probes.h"

namespace longctx::eval {

namespace {

const char* score_name(ProbeTask task) {
  return task == ProbeTask::kFsr ? "ROUGE-L F (x100)" : "accuracy (%)";
}

nlohmann::json cell_json(const ScoreCell& c) {
  nlohmann::json j = {{"length", c.length}, {"score", c.score.mean}, {"trials", c.score.n}};
  if (c.depth >= 0) j["depth"] = c.depth;
  j["score_ci95"] = std::isnan(c.score.lo) ? nlohmann::json(nullptr)
                                           : nlohmann::json::array({c.score.lo, c.score.hi});
  return j;
}

std::string length_label(int64_t L) {
  return L % 1024 == 0 ? std::to_string(L / 1024) + "k" : std::to_string(L);
}

}  // namespace

nlohmann::json to_json(const ProbeResult& r) {
  const ProbeOptions& o = r.options;
  nlohmann::json j = {{"task", probe_task_name(r.task)},
                      {"score", score_name(r.task)},
                      {"lengths", o.lengths},
                      {"count", o.count},
                      {"max_new_tokens", o.resolved_max_new_tokens(r.task)},
                      {"seed", o.seed},
                      {"decoding", "greedy (argmax, lowest id on ties), model/decode.h"}};
  if (r.task == ProbeTask::kFsr) {
    j["rules"] = "prompt = a document prefix + the first-sentence question (data/tasks.h), exactly "
                 "`length` tokens with BOS; generation stops at '. ', '! ', '? ', a newline, EOS "
                 "or the token limit; score = 100 x ROUGE-L F (word tokens, lower-cased) between "
                 "the first sentence of the output and the document's first sentence";
  } else {
    j["depths"] = o.depths;
    j["rules"] = "prompt from data/tasks.h, exactly `length` tokens with BOS, key at the depth; "
                 "generation stops at a newline, '.', EOS or the token limit; correct when the "
                 "first number of the output equals the answer";
  }
  j["rows"] = nlohmann::json::array();
  for (const ProbeRow& row : r.rows) {
    nlohmann::json rj = row.json_base;
    rj["effective_length"] = row.effective_length;
    rj["by_length"] = nlohmann::json::array();
    for (const ScoreCell& c : row.by_length) {
      nlohmann::json cj = cell_json(c);
      cj["beyond_trained"] = c.length > row.trained_length;
      rj["by_length"].push_back(std::move(cj));
    }
    if (!row.by_length_depth.empty()) {
      rj["by_length_depth"] = nlohmann::json::array();
      for (const ScoreCell& c : row.by_length_depth) rj["by_length_depth"].push_back(cell_json(c));
    }
    rj["trials"] = nlohmann::json::array();
    for (const ProbeTrial& t : row.trials) {
      nlohmann::json tj = {{"length", t.length}, {"index", t.index},     {"answer", t.answer},
                           {"output", t.output}, {"prediction", t.prediction},
                           {"score", t.score},   {"stop", t.stop_reason},
                           {"prefill_seconds", t.prefill_seconds},
                           {"decode_seconds", t.decode_seconds}};
      if (t.depth >= 0) tj["depth"] = t.depth, tj["target_depth"] = t.target_depth;
      if (!t.source.empty()) tj["source"] = t.source;
      rj["trials"].push_back(std::move(tj));
    }
    j["rows"].push_back(std::move(rj));
  }
  return j;
}

void write_probe_outputs(const ProbeResult& r, const std::string& dir) {
  const std::string task = probe_task_name(r.task);
  write_json(dir, task + ".json", to_json(r));
  std::string trials = csv_line({"label", "length", "target_depth", "depth", "index", "source",
                                 "answer", "prediction", "score", "stop"});
  std::string cells = csv_line({"label", "length", "depth", "score", "ci95_lo", "ci95_hi", "trials"});
  for (const ProbeRow& row : r.rows) {
    for (const ProbeTrial& t : row.trials)
      trials += csv_line({row.row.label, std::to_string(t.length), csv_number(t.target_depth < 0 ? NAN : t.target_depth),
                          csv_number(t.depth < 0 ? NAN : t.depth), std::to_string(t.index), t.source,
                          t.answer, t.prediction, csv_number(t.score), t.stop_reason});
    for (const auto* list : {&row.by_length, &row.by_length_depth})
      for (const ScoreCell& c : *list)
        cells += csv_line({row.row.label, std::to_string(c.length), c.depth < 0 ? "all" : csv_number(c.depth),
                           csv_number(c.score.mean), csv_number(c.score.lo), csv_number(c.score.hi),
                           std::to_string(c.score.n)});
  }
  write_output(dir, task + ".csv", trials);
  write_output(dir, task + "_cells.csv", cells);

  const char* titles[] = {"First-sentence retrieval against context length",
                          "Passkey retrieval against context length",
                          "Needle in a haystack against context length"};
  PlotSpec p = length_plot(titles[static_cast<int>(r.task)], score_name(r.task), false);
  p.y.min = 0;
  p.y.max = 100;
  p.subtitle = strformat("greedy decoding; %lld %s per length", static_cast<long long>(r.options.count),
                         r.task == ProbeTask::kFsr ? "documents" : "trials per depth");
  int64_t trained = INT64_MAX;
  for (const ProbeRow& row : r.rows) {
    p.series.push_back(length_series(row.row.label, row.by_length,
                                     [](const ScoreCell& c) { return c.score.mean; }));
    trained = std::min(trained, row.trained_length);
  }
  add_trained_marker(p, trained, static_cast<double>(r.options.lengths.front()),
                     static_cast<double>(r.options.lengths.back()));
  write_output(dir, task + ".svg", render_svg(p));
  if (r.task == ProbeTask::kFsr) return;

  // Accuracy against depth (all lengths pooled) and the length x depth grid per row.
  PlotSpec d;
  d.title = r.task == ProbeTask::kPasskey ? "Passkey accuracy by depth" : "Needle accuracy by depth";
  d.subtitle = "all lengths pooled";
  d.x.label = "depth of the key in the prompt (0 = start, 1 = end)";
  d.y.label = "accuracy (%)";
  d.y.min = 0;
  d.y.max = 100;
  for (size_t ri = 0; ri < r.rows.size(); ++ri) {
    const ProbeRow& row = r.rows[ri];
    PlotSeries s;
    s.name = row.row.label;
    s.markers = true;
    HeatmapSpec h;
    h.title = (r.task == ProbeTask::kPasskey ? "Passkey: " : "Needle in a haystack: ") + row.row.label;
    h.subtitle = strformat("accuracy (%%) over %lld trials per cell; greedy decoding",
                           static_cast<long long>(r.options.count));
    h.x_label = "context length (tokens)";
    h.y_label = "depth";
    for (const int64_t L : r.options.lengths) h.columns.push_back(length_label(L));
    for (const double depth : r.options.depths) {
      h.rows.push_back(strformat("%.0f%%", 100 * depth));
      double sum = 0;
      int64_t n = 0;
      for (const int64_t L : r.options.lengths)
        for (const ScoreCell& c : row.by_length_depth)
          if (c.length == L && c.depth == depth) {
            h.values.push_back(c.score.mean);
            sum += c.score.mean * static_cast<double>(c.score.n);
            n += c.score.n;
          }
      s.x.push_back(depth);
      s.y.push_back(n ? sum / static_cast<double>(n) : NAN);
    }
    d.series.push_back(std::move(s));
    write_output(dir, task + "_heatmap_" + std::to_string(ri + 1) + ".svg", render_heatmap_svg(h));
  }
  write_output(dir, task + "_depth.svg", render_svg(d));
}

std::string probe_summary(const ProbeResult& r) {
  std::vector<std::string> labels;
  for (const ProbeRow& row : r.rows) labels.push_back(row.row.label);
  const int w = label_width(labels);
  std::string s = strformat("%s: %s by length (* = beyond the trained length)\n", probe_task_name(r.task),
                            score_name(r.task)) + pad_label("row", w);
  for (const int64_t L : r.options.lengths) s += strformat(" %8s", length_label(L).c_str());
  s += "  effective length (85%)\n";
  for (const ProbeRow& row : r.rows) {
    s += pad_label(row.row.label, w);
    for (const ScoreCell& c : row.by_length)
      s += strformat(" %7.1f%s", c.score.mean, c.length > row.trained_length ? "*" : " ");
    s += row.effective_length > 0 ? strformat("  %lld\n", static_cast<long long>(row.effective_length))
                                  : std::string("  none (no score at the shortest length)\n");
  }
  return s;
}

}  // namespace longctx::eval
