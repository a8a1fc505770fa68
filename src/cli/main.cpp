// The `longctx` binary: one CLI11 app; each area adds its subcommands through
// a static CommandRegistrar in its own src/cli/cmd_<area>.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/registry.h"
#include "core/error.h"
#include "core/threads.h"

int main(int argc, char** argv) {
  CLI::App app{"longctx: long-context LLaMA toolkit (RoPE ABF and peers, training, evaluation)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "longctx " LONGCTX_VERSION);
  int threads = 0;
  app.add_option("--threads", threads, "Threads for OpenMP and BLAS (0 = all cores)");
  app.parse_complete_callback([&] { longctx::set_num_threads(threads); });
  longctx::cli::register_all_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const longctx::Error& e) {
    std::fprintf(stderr, "longctx: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "longctx: unexpected error: %s\n", e.what());
    return 1;
  }
  return 0;
}
