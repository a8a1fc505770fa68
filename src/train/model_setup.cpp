#include "train/model_setup.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/model_io.h"
#include "rope/rope_spec.h"
#include "train/run_folder.h"

namespace longctx::train {

namespace {

rope::RopeSpec parse_flag_rope(const std::string& flag, const std::string& spec) {
  try {
    return rope::parse_rope_spec(spec);
  } catch (const Error& e) {
    throw e.with_context(flag + " '" + spec + "'");
  }
}

// `train`'s model configuration before run settings: the preset or the config.json.
model::ModelConfig train_model_config(const TrainConfig& c) {
  const bool file =
      std::filesystem::exists(c.model_config) && !std::filesystem::is_directory(c.model_config);
  try {
    return file ? io::read_hf_config(c.model_config) : model::preset_config(c.model_config);
  } catch (const Error& e) {
    throw e.with_context("--model-config '" + c.model_config + "'");
  }
}

void apply_run_settings(model::ModelConfig& cfg, const TrainConfig& c) {
  if (!c.rope.empty()) cfg.rope = parse_flag_rope("--rope", c.rope);
  cfg.max_seq_len = std::max(c.seq, c.pose_target);
  cfg.validate();
}

void set_phase_encodings(RunModel& run, const TrainConfig& c) {
  run.final_rope = run.model.config.rope;
  run.short_rope = c.short_rope.empty() ? run.final_rope
                                        : parse_flag_rope("--short-rope", c.short_rope);
  model::ModelConfig check = run.model.config;
  check.rope = run.short_rope;
  try {
    check.validate();
  } catch (const Error& e) {
    throw e.with_context("--short-rope '" + c.short_rope + "'");
  }
}

void check_vocabulary(const model::ModelConfig& cfg, const std::vector<DataSource>& sources,
                      const std::string& what) {
  const DataSource& s = sources.front();
  LONGCTX_CHECK(s.vocab_size <= cfg.vocab_size,
                "--data '%s' uses a %lld-token vocabulary but %s has %lld (use data made with "
                "the model's tokenizer, or a model config with that vocab_size)",
                s.dir.c_str(), static_cast<long long>(s.vocab_size), what.c_str(),
                static_cast<long long>(cfg.vocab_size));
}

}  // namespace

RunModel make_initial_model(const TrainConfig& c, const std::vector<DataSource>& sources) {
  RunModel out;
  if (c.command == RunCommand::kTrain) {
    model::ModelConfig cfg = train_model_config(c);
    apply_run_settings(cfg, c);
    check_vocabulary(cfg, sources, "--model-config '" + c.model_config + "'");
    out.model = model::LlamaModel(cfg);
    model::init_weights(out.model, c.seed);
    if (!sources.front().tokenizer_path.empty())
      out.tokenizer.emplace(io::Tokenizer::from_file(sources.front().tokenizer_path));
    out.origin = "initialised " + c.model_config + " (seed " + std::to_string(c.seed) + ")";
  } else {
    const std::string path = resolve_model_source(c.from);
    io::LoadedModel loaded = [&] {
      try {
        return io::load_model(path);
      } catch (const Error& e) {
        throw e.with_context("--from '" + c.from + "'");
      }
    }();
    out.model = std::move(loaded.model);
    apply_run_settings(out.model.config, c);
    check_vocabulary(out.model.config, sources, "--from '" + c.from + "'");
    out.tokenizer = std::move(loaded.tokenizer);
    out.origin = "loaded " + path;
  }
  set_phase_encodings(out, c);
  return out;
}

RunModel model_from_checkpoint(io::LoadedCheckpoint& checkpoint, const TrainConfig& c) {
  RunModel out;
  out.model = std::move(checkpoint.model.model);
  // A checkpoint of a curriculum's short phase holds --short-rope: the run's encoding comes
  // from --rope, else (train) from the model config (extend always has --rope).
  if (c.rope.empty() && c.command == RunCommand::kTrain && !c.short_rope.empty())
    out.model.config.rope = train_model_config(c).rope;
  apply_run_settings(out.model.config, c);
  out.tokenizer = std::move(checkpoint.model.tokenizer);
  out.origin = "resumed from " + checkpoint.path;
  set_phase_encodings(out, c);
  return out;
}

}  // namespace longctx::train
