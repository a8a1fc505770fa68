#include "cli/registry.h"

#include <map>

namespace longctx::cli {

static std::map<std::string, CommandAdder>& registry() {
  static std::map<std::string, CommandAdder> r;  // ordered: stable help output
  return r;
}

CommandRegistrar::CommandRegistrar(std::string name, CommandAdder adder) {
  registry().emplace(std::move(name), std::move(adder));
}

void register_all_commands(CLI::App& app) {
  for (auto& [name, adder] : registry()) adder(app);
}

}  // namespace longctx::cli
