#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"

namespace longctx::eval {
namespace fs = std::filesystem;
using nlohmann::json;

std::string base64_encode(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                       uint32_t(uint8_t(in[i + 2]));
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  LONGCTX_CHECK(in.good(), "report: cannot read '%s'", p.string().c_str());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json(const fs::path& p) {
  try {
    return json::parse(read_file(p));
  } catch (const json::exception& e) {
    throw_error("report: '%s' is not valid JSON: %s", p.string().c_str(), e.what());
  }
}

std::string num(const json& v, const char* fmt) {
  if (!v.is_number()) return "&ndash;";
  const double d = v.get<double>();
  return std::isfinite(d) ? strformat(fmt, d) : std::string("&ndash;");
}

// A rows x lengths table: cell(result json) gives the text; results beyond the trained
// length get class "beyond".
struct TableSpec {
  std::string caption;
  const char* results_key = "results";
  std::function<std::string(const json&)> cell;
};

std::string length_table(const json& doc, const TableSpec& t) {
  static const json kNone = json::array();
  auto results = [&](const json& row) -> const json& {
    return row.contains(t.results_key) && row[t.results_key].is_array() ? row[t.results_key] : kNone;
  };
  std::vector<int64_t> lengths;
  for (const json& row : doc["rows"])
    for (const json& r : results(row))
      if (std::find(lengths.begin(), lengths.end(), r.value("length", int64_t{0})) == lengths.end())
        lengths.push_back(r.value("length", int64_t{0}));
  std::sort(lengths.begin(), lengths.end());
  std::string h = "<table><caption>" + html_escape(t.caption) + "</caption>\n<tr><th>row</th>";
  for (const int64_t L : lengths) h += "<th>" + std::to_string(L) + "</th>";
  h += "</tr>\n";
  for (const json& row : doc["rows"]) {
    h += "<tr><th class=\"row\">" + html_escape(row.value("label", std::string())) + "</th>";
    for (const int64_t L : lengths) {
      const json* found = nullptr;
      for (const json& r : results(row))
        if (r.value("length", int64_t{0}) == L) found = &r;
      if (!found) {
        h += "<td></td>";
        continue;
      }
      const bool beyond = found->value("beyond_trained", false);
      h += std::string("<td") + (beyond ? " class=\"beyond\"" : "") + ">" + t.cell(*found) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

struct Section {
  std::string html;
  int tables = 0;
};

Section ppl_section(const json& doc) {
  Section s;
  s.html += "<p class=\"rules\">" + html_escape(doc["rules"].value("description", std::string())) + "</p>\n";
  if (doc["rules"].value("mode", std::string()) == "llamacpp") {
    s.html += "<table><caption>llama-perplexity rules</caption><tr><th>row</th><th>PPL</th><th>+/-</th>"
              "<th>chunks</th><th>tokens scored</th></tr>\n";
    for (const json& row : doc["rows"]) {
      const json& l = row["llamacpp"];
      s.html += "<tr><th class=\"row\">" + html_escape(row.value("label", std::string())) + "</th><td>" +
                num(l["ppl"], "%.4f") + "</td><td>" + num(l["ppl_error"], "%.5f") + "</td><td>" +
                num(l["chunks"], "%.0f") + "</td><td>" + num(l["tokens_scored"], "%.0f") + "</td></tr>\n";
    }
    s.html += "</table>\n";
    s.tables = 1;
    return s;
  }
  s.html += length_table(doc, {"Perplexity (shaded: beyond the trained length); 95% CI over samples",
                               "results", [](const json& r) {
                                 std::string c = num(r["ppl"], "%.3f");
                                 if (r["ppl_ci95"].is_array())
                                   c += "<br><small>[" + num(r["ppl_ci95"][0], "%.2f") + ", " +
                                        num(r["ppl_ci95"][1], "%.2f") + "]</small>";
                                 return c;
                               }});
  s.html += length_table(doc, {"LongPPL (key tokens only; key-token count below)", "results",
                               [](const json& r) {
                                 return num(r["longppl"], "%.3f") + "<br><small>" +
                                        num(r["key_tokens"], "%.0f") + "</small>";
                               }});
  s.html += length_table(doc, {"Forward throughput (tokens/s)", "results",
                               [](const json& r) { return num(r["tokens_per_second"], "%.0f"); }});
  s.tables = 3;
  bool baseline = false;
  for (const json& row : doc["rows"])
    for (const json& r : row["results"]) baseline |= r.contains("ppl_ratio_vs_baseline");
  if (baseline) {
    s.html += length_table(doc, {"Perplexity ratio against the baseline", "results",
                                 [](const json& r) { return num(r.value("ppl_ratio_vs_baseline", json()), "%.4f"); }});
    ++s.tables;
  }
  return s;
}

Section kld_section(const json& doc) {
  Section s;
  s.html += "<p class=\"rules\">reference: " + html_escape(doc["reference"].value("label", std::string())) +
            "; " + html_escape(doc.value("definition", std::string())) + "</p>\n";
  s.html += length_table(doc, {"Mean KL divergence from the reference (nats per token)", "results",
                               [](const json& r) { return num(r["mean_kld"], "%.5f"); }});
  s.html += length_table(doc, {"Top-token agreement with the reference (%)", "results",
                               [](const json& r) {
                                 return r["top1_agreement"].is_number()
                                            ? strformat("%.2f", 100 * r["top1_agreement"].get<double>())
                                            : std::string("&ndash;");
                               }});
  s.tables = 2;
  return s;
}

Section probe_section(const json& doc) {
  Section s;
  s.html += "<p class=\"rules\">" + html_escape(doc.value("rules", std::string())) + "</p>\n";
  s.html += length_table(doc, {doc.value("score", std::string("score")) + " by context length",
                               "by_length", [](const json& r) { return num(r["score"], "%.1f"); }});
  s.html += "<table><caption>Effective length: longest length keeping 85% of the shortest length's "
            "score</caption><tr><th>row</th><th>effective length</th></tr>\n";
  for (const json& row : doc["rows"]) {
    const int64_t e = row.value("effective_length", int64_t{0});
    s.html += "<tr><th class=\"row\">" + html_escape(row.value("label", std::string())) + "</th><td>" +
              (e > 0 ? std::to_string(e) : std::string("none")) + "</td></tr>\n";
  }
  s.html += "</table>\n";
  s.tables = 2;
  return s;
}

// Which plots belong to which task (by file-name prefix), in display order.
const std::vector<std::pair<std::string, std::vector<std::string>>>& task_plots() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> k = {
      {"ppl", {"ppl_vs_length", "ppl_position", "longppl_vs_length"}},
      {"kld", {"kld_vs_length", "kld_position", "agreement_vs_length", "agreement_position"}},
      {"fsr", {"fsr"}},
      {"passkey", {"passkey", "passkey_depth", "passkey_heatmap_"}},
      {"niah", {"niah", "niah_depth", "niah_heatmap_"}}};
  return k;
}

bool plot_matches(const std::string& stem, const std::string& pattern) {
  return pattern.back() == '_' ? stem.rfind(pattern, 0) == 0 : stem == pattern;
}

std::string figure(const fs::path& svg) {
  return "<figure><img class=\"plot\" alt=\"" + html_escape(svg.filename().string()) +
         "\" src=\"data:image/svg+xml;base64," + base64_encode(read_file(svg)) +
         "\"><figcaption>" + html_escape(svg.filename().string()) + "</figcaption></figure>\n";
}

constexpr char kStyle[] = R"(body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:24px}h2{border-bottom:2px solid #ccc;padding-bottom:4px;margin-top:40px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th.row{text-align:left;font-weight:normal}
td.beyond{background:#fdecea}small{color:#666}.rules{font-size:13px;color:#444;max-width:1000px}
figure{display:inline-block;margin:8px;vertical-align:top}figure img{max-width:560px;border:1px solid #ddd}
figcaption{font-size:12px;color:#666;text-align:center}#status{font-size:12px;color:#666})";

constexpr char kScript[] = R"(<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e.type)); }, true);
  window.addEventListener('load', function () {
    var imgs = document.querySelectorAll('img.plot'), ok = 0, bad = 0;
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; else bad++;
    }
    document.body.setAttribute('data-plots-loaded', ok);
    document.body.setAttribute('data-plots-failed', bad);
    document.body.setAttribute('data-errors', errors.length);
    document.getElementById('status').textContent =
        ok + ' of ' + imgs.length + ' plots rendered' + (errors.length ? '; errors: ' + errors.join('; ') : '');
  });
})();
</script>
)";

}  // namespace

Report build_report(const std::vector<std::string>& dirs, const ReportOptions& options) {
  LONGCTX_CHECK(!dirs.empty(), "report: give at least one result folder");
  Report rep;
  std::string body;
  for (const std::string& dir : dirs) {
    LONGCTX_CHECK(fs::is_directory(dir), "report: '%s' is not a folder", dir.c_str());
    std::vector<fs::path> svgs;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".svg") svgs.push_back(e.path());
    std::sort(svgs.begin(), svgs.end());
    std::set<fs::path> used;
    std::string section;
    int found = 0;
    for (const auto& [task, patterns] : task_plots()) {
      const fs::path jp = fs::path(dir) / (task + ".json");
      if (!fs::exists(jp)) continue;
      ++found;
      const json doc = read_json(jp);
      LONGCTX_CHECK(doc.value("task", std::string()) == task && doc.contains("rows"),
                    "report: '%s' is not an eval %s result", jp.string().c_str(), task.c_str());
      const Section s = task == "ppl" ? ppl_section(doc)
                        : task == "kld" ? kld_section(doc)
                                        : probe_section(doc);
      static const std::map<std::string, std::string> kTitles = {
          {"ppl", "Perplexity against context length"}, {"kld", "KL divergence from a reference"},
          {"fsr", "First-sentence retrieval"}, {"passkey", "Passkey retrieval"},
          {"niah", "Needle in a haystack"}};
      section += "<h3>" + kTitles.at(task) + " <small>(" + task + ".json)</small></h3>\n" + s.html;
      rep.tables += s.tables;
      rep.tasks.push_back(dir + ": " + task);
      for (const std::string& pattern : patterns)
        for (const fs::path& svg : svgs)
          if (!used.count(svg) && plot_matches(svg.stem().string(), pattern)) {
            section += figure(svg);
            used.insert(svg);
            ++rep.plots;
          }
    }
    std::string others;
    for (const fs::path& svg : svgs)
      if (!used.count(svg)) {
        others += figure(svg);
        ++rep.plots;
      }
    if (!others.empty())
      section += "<h3>Other plots <small>(e.g. <code>longctx rope</code> analyses)</small></h3>\n" + others;
    LONGCTX_CHECK(found > 0 || !others.empty(),
                  "report: '%s' holds no eval results (*.json) and no plots (*.svg)", dir.c_str());
    body += "<h2>" + html_escape(dir) + "</h2>\n" + section;
  }
  rep.html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
             html_escape(options.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
             html_escape(options.title) + "</h1>\n<p id=\"status\">" + std::to_string(rep.plots) +
             " plots</p>\n" + body + kScript + "</body>\n</html>\n";
  return rep;
}

}  // namespace longctx::eval
