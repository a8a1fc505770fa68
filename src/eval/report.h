// `longctx report`: one self-contained HTML page from result folders. For each folder it
// reads the results the eval commands write (ppl.json, kld.json, fsr.json, passkey.json,
// niah.json) into tables, and inlines every SVG plot of the folder as a data: URI image
// (the eval plots under their task, anything else, e.g. `longctx rope` analysis plots, under
// "Other plots"). No external resources: no scripts, styles, fonts or images from anywhere
// but the page itself. A small inline script marks, once the page has loaded, how many
// plots decoded (body data-plots-loaded / data-plots-failed) and records script errors
// (data-errors), so a headless browser can check the page.
#pragma once
#include <string>
#include <vector>

namespace longctx::eval {

struct ReportOptions {
  std::string title = "longctx evaluation report";
};

struct Report {
  std::string html;
  int plots = 0;   // images inlined
  int tables = 0;  // result tables
  std::vector<std::string> tasks;  // "<folder>: <task>" found
};

// Throws Error naming the folder when one does not exist or holds neither results nor plots,
// and naming the file when a result JSON cannot be read.
Report build_report(const std::vector<std::string>& dirs, const ReportOptions& options = {});

std::string base64_encode(const std::string& bytes);
std::string html_escape(const std::string& text);

}  // namespace longctx::eval
