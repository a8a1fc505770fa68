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

// Sampling flags of generate and chat (each command sets its own defaults before adding).
struct SamplingFlags {
  int64_t max_tokens = 128;
  float temperature = 1.0f, top_p = 1.0f;
  int64_t top_k = 0;
  uint64_t seed = 0;
  bool greedy = false;
};

// --greedy, --max-tokens, --temperature, --top-p, --top-k, --seed.
void add_sampling_flags(CLI::App* cmd, SamplingFlags& f, const std::string& max_tokens_help,
                        const std::string& seed_help, bool allow_zero_tokens);
// The decoding loop's options from the flags: sampling, token limit, stop at eos_id.
model::DecodeOptions decode_options(const SamplingFlags& f, int32_t eos_id);

serve::ModelLoadOptions model_load_options(const EngineFlags& f);
// EngineOptions from the flags (sequences and the prefix cache are the caller's).
serve::EngineOptions engine_options(const EngineFlags& f);
// Prints the memory plan and the --ctx warning (when the context exceeds the trained one)
// to stderr, unless quiet (the warning is printed even then).
void report_engine(const serve::Engine& engine, const serve::ServingModel& model, bool quiet);

}  // namespace longctx::cli
