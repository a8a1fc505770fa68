// `longctx report DIR... -o report.html`: one self-contained HTML page (tables and inline
// plots, no network) from eval result folders and `longctx rope` analysis folders.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/registry.h"
#include "eval/output.h"
#include "eval/report.h"
#include <filesystem>

namespace longctx::cli {
namespace {

struct ReportArgs {
  std::vector<std::string> dirs;
  std::string out = "report.html";
  eval::ReportOptions options;
};

void run_report(const ReportArgs& a) {
  const eval::Report r = eval::build_report(a.dirs, a.options);
  const std::filesystem::path out(a.out);
  const std::string dir = out.has_parent_path() ? out.parent_path().string() : std::string(".");
  eval::write_output(dir, out.filename().string(), r.html);
  std::printf("wrote %s: %d tables, %d plots (", a.out.c_str(), r.tables, r.plots);
  for (size_t i = 0; i < r.tasks.size(); ++i) std::printf("%s%s", i ? ", " : "", r.tasks[i].c_str());
  std::printf(")\n");
}

void add_report_command(CLI::App& app) {
  static ReportArgs a;
  CLI::App* cmd = app.add_subcommand("report", "One self-contained HTML page from result folders");
  cmd->add_option("dirs", a.dirs, "Result folders (eval outputs, rope analyses)")->required();
  cmd->add_option("-o,--out", a.out, "HTML file to write")->capture_default_str();
  cmd->add_option("--title", a.options.title, "Page title")->capture_default_str();
  cmd->callback([] { run_report(a); });
}

const CommandRegistrar kRegistrar("report", add_report_command);

}  // namespace
}  // namespace longctx::cli
