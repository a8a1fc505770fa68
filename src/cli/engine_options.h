// Flags shared by the inference commands (generate, chat, serve): the model, its
// position encoding, the context, KV cache and weight storage types, and the memory plan.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "serve/engine.h"
#include "serve/serving_model.h"

namespace longctx::cli {

struct EngineFlags {
  std::string model, tokenizer, weights, rope, kv_type = "f32";
  int64_t ctx = 0;
  int64_t chunk = model::kPrefillChunk;
  double memory_limit_mb = 0;
  bool quiet = false;
};

void add_engine_flags(CLI::App* cmd, EngineFlags& f);

serve::ModelLoadOptions model_load_options(const EngineFlags& f);
// EngineOptions from the flags (sequences and the prefix cache are the caller's).
serve::EngineOptions engine_options(const EngineFlags& f);
// Prints the memory plan and the --ctx warning (when the context exceeds the trained one)
// to stderr, unless quiet (the warning is printed even then).
void report_engine(const serve::Engine& engine, const serve::ServingModel& model, bool quiet);

}  // namespace longctx::cli
