// The report's contents: result tables with the numbers of the JSON files, every SVG of the
// folders inlined as a data: URI (task plots under their task, others under "Other plots"),
// nothing fetched from outside the page, and clear errors for empty or missing folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/plot.h"
#include "eval/eval_test_util.h"
#include "eval/output.h"
#include "eval/ppl_eval.h"
#include "eval/probes.h"
#include "eval/report.h"

namespace longctx::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// A hand-made ppl result with known numbers (two rows, lengths 64 and 128).
PplResult fake_ppl() {
  PplResult r;
  r.options.lengths = {64, 128};
  r.options.rules.bucket = 32;
  for (int i = 0; i < 2; ++i) {
    PplRow row;
    row.row.label = i == 0 ? "toy | default (own)" : "toy | linear:factor=2";
    row.json_base = {{"label", row.row.label}, {"model", "toy.gguf"}, {"rope", i ? "linear:factor=2" : "default"}};
    row.trained_length = 64;
    for (const int64_t L : r.options.lengths) {
      PplAtLength a;
      a.length = L;
      a.beyond_trained = L > 64;
      a.samples = 2;
      a.tokens_scored = 2 * L;
      a.mean_nll = 1.5 + 0.25 * i + (L == 128 ? 1.0 : 0.0);
      a.ppl = std::exp(a.mean_nll);
      a.nll_ci = {a.mean_nll, a.mean_nll - 0.1, a.mean_nll + 0.1, 0.05, 2};
      a.tokens_per_second = 1234;
      a.key_tokens = 3;
      a.longppl = 7.25;
      for (int64_t s = 0; s < L; s += 32) a.buckets.push_back({s, s + 32, a.mean_nll, 64});
      row.lengths.push_back(a);
    }
    r.rows.push_back(row);
  }
  return r;
}

ProbeResult fake_passkey() {
  ProbeResult r;
  r.task = ProbeTask::kPasskey;
  r.options.lengths = {64, 128};
  r.options.depths = {0, 1};
  r.options.count = 1;
  ProbeRow row;
  row.row.label = "toy | default (own)";
  row.json_base = {{"label", row.row.label}};
  row.trained_length = 64;
  const double scores[2][2] = {{100, 100}, {100, 0}};  // [length][depth]
  for (int li = 0; li < 2; ++li)
    for (int di = 0; di < 2; ++di) {
      ProbeTrial t;
      t.length = r.options.lengths[li];
      t.target_depth = t.depth = r.options.depths[di];
      t.answer = "4242";
      t.output = scores[li][di] > 0 ? " 4242." : " 17.";
      t.score = scores[li][di];
      row.trials.push_back(t);
      row.by_length_depth.push_back({t.length, t.depth, {t.score, NAN, NAN, NAN, 1}});
    }
  row.by_length = {{64, -1, {100, NAN, NAN, NAN, 2}}, {128, -1, {50, NAN, NAN, NAN, 2}}};
  row.effective_length = 64;
  r.rows.push_back(row);
  return r;
}

TEST(Report, TablesPlotsAndNoExternalResources) {
  const std::string a = test::temp_dir("report_a"), b = test::temp_dir("report_b");
  write_ppl_outputs(fake_ppl(), a);
  write_probe_outputs(fake_passkey(), a);
  PlotSpec decay;  // stands in for a `longctx rope decay` plot in another folder
  decay.title = "Attention decay";
  PlotSeries rope_series;
  rope_series.name = "RoPE";
  rope_series.x = {1, 2, 3};
  rope_series.y = {3, 2, 1};
  decay.series.push_back(rope_series);
  write_svg(decay, b + "/decay.svg");

  const Report rep = build_report({a, b}, {"Test report"});
  size_t svgs = 0;
  for (const std::string& d : {a, b})
    for (const auto& e : std::filesystem::directory_iterator(d)) svgs += e.path().extension() == ".svg";
  EXPECT_EQ(rep.plots, static_cast<int>(svgs));
  EXPECT_EQ(count(rep.html, "<img class=\"plot\""), svgs);
  EXPECT_EQ(count(rep.html, "src=\"data:image/svg+xml;base64,"), svgs);
  EXPECT_EQ(rep.tasks.size(), 2u);
  // Tables carry the JSON's numbers: ppl exp(1.5) = 4.482, beyond-trained cells marked,
  // LongPPL 7.250, passkey 50.0 at 128, effective length 64.
  EXPECT_NE(rep.html.find("<td>4.482<br><small>[4.06, 4.95]</small></td>"), std::string::npos);
  EXPECT_NE(rep.html.find("<td class=\"beyond\">"), std::string::npos);
  EXPECT_NE(rep.html.find("7.250"), std::string::npos);
  EXPECT_NE(rep.html.find("<td class=\"beyond\">50.0</td>"), std::string::npos);
  EXPECT_NE(rep.html.find("<th class=\"row\">toy | linear:factor=2</th>"), std::string::npos);
  EXPECT_NE(rep.html.find("<figcaption>passkey_heatmap_1.svg</figcaption>"), std::string::npos);
  // The rope plot lands under "Other plots".
  const size_t other = rep.html.find("Other plots");
  ASSERT_NE(other, std::string::npos);
  EXPECT_GT(rep.html.find("<figcaption>decay.svg</figcaption>"), other);
  // Self-contained: no external scripts, styles, images or links.
  for (const char* bad : {"src=\"http", "href=\"http", "<link", "<script src", "url(http", "@import"})
    EXPECT_EQ(rep.html.find(bad), std::string::npos) << bad;
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST(Report, Base64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("M"), "TQ==");
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_EQ(base64_encode("<svg/>\n"), "PHN2Zy8+Cg==");
  EXPECT_EQ(html_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
}

TEST(Report, BadFoldersAreErrors) {
  const std::string empty = test::temp_dir("report_empty");
  EXPECT_THROW(build_report({empty}), Error);
  EXPECT_THROW(build_report({empty + "/missing"}), Error);
  std::ofstream(empty + "/ppl.json") << "{not json";
  try {
    build_report({empty});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ppl.json"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(empty);
}

}  // namespace
}  // namespace longctx::eval
