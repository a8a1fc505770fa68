// Self-registration of subcommands: a file in src/cli defines
//   static longctx::cli::CommandRegistrar reg("rope", [](CLI::App& app) { ... });
// and main() adds every registered group. No central list to edit.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace longctx::cli {

using CommandAdder = std::function<void(CLI::App&)>;

struct CommandRegistrar {
  CommandRegistrar(std::string name, CommandAdder adder);
};

void register_all_commands(CLI::App& app);

}  // namespace longctx::cli
