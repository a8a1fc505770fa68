// `longctx info [--json]`: what this binary runs on this machine (version, build, the
// SIMD target chosen at run time and the compiled ones, the BLAS library with its
// kernel and threading, the thread count, the CPU's relevant features).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cli/registry.h"
#include "kernels/platform.h"

namespace longctx::cli {
namespace {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print version, SIMD target, BLAS and CPU features");
  auto as_json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *as_json, "One JSON object (the form benchmarks record)");
  cmd->callback([as_json] {
    if (*as_json) {
      std::printf("%s\n", kernels::platform_json().dump(2).c_str());
    } else {
      std::fputs(kernels::platform_text().c_str(), stdout);
    }
  });
}

const CommandRegistrar kRegistrar("info", add_info_command);

}  // namespace
}  // namespace longctx::cli
