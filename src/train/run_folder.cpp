#include "train/run_folder.h"

#include <filesystem>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/mapped_file.h"

namespace longctx::train {

namespace fs = std::filesystem;

RunFolderPlan plan_run_folder(const TrainConfig& config) {
  RunFolderPlan plan;
  const fs::path run(config.out);
  LONGCTX_CHECK(!fs::exists(run) || fs::is_directory(run), "--out '%s' exists and is not a folder",
                config.out.c_str());
  const fs::path stored = run / "config.toml";
  if (fs::exists(stored)) {
    const std::vector<ConfigDifference> diffs =
        compare_config(read_config_toml(stored.string()), config_entries(config));
    std::string refused;
    for (const ConfigDifference& d : diffs) {
      const std::string text = strformat("%s (RUN has '%s', this command '%s')", d.key.c_str(),
                                         d.stored.c_str(), d.requested.c_str());
      if (d.role == KeyRole::kIdentity)
        refused += "\n  " + text;
      else
        plan.warnings.push_back(text + ": the continued curve will not be bit-identical");
    }
    LONGCTX_CHECK(refused.empty(),
                  "--out '%s' holds a run with a different configuration; differing keys:%s\n"
                  "(use another --out, or repeat the original flags / --config %s)",
                  config.out.c_str(), refused.c_str(), stored.c_str());
  }
  const std::vector<std::string> checkpoints = io::list_checkpoints(config.out);
  if (!checkpoints.empty()) {
    plan.resume = true;
    plan.checkpoint = checkpoints.back();
  }
  LONGCTX_CHECK(plan.resume || !config.resume, "--resume: '%s' holds no checkpoint to resume from",
                config.out.c_str());
  return plan;
}

void write_run_config(const TrainConfig& config) {
  fs::create_directories(config.out);
  const std::string text = config_toml(config);
  io::write_file_atomic((fs::path(config.out) / "config.toml").string(), text.data(), text.size());
}

std::string resolve_model_source(const std::string& from) {
  const fs::path p(from);
  LONGCTX_CHECK(fs::exists(p), "--from '%s': no such file or folder", from.c_str());
  if (fs::is_directory(p) && !fs::exists(p / "config.json")) {
    if (fs::exists(p / "final" / "config.json")) return (p / "final").string();
    const std::vector<std::string> checkpoints = io::list_checkpoints(from);
    LONGCTX_CHECK(!checkpoints.empty(),
                  "--from '%s': a folder without config.json, final/ or checkpoint-N/ (give a "
                  "Hugging Face folder, a GGUF file or a run folder)",
                  from.c_str());
    return checkpoints.back();
  }
  return from;
}

}  // namespace longctx::train
