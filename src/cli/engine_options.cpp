#include "cli/engine_options.h"

#include <cstdio>

#include "core/error.h"
#include "rope/rope_spec.h"

namespace longctx::cli {

void add_engine_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--model", f.model, "A .gguf file (f32/bf16/q8_0 used in place) or a Hugging Face folder")->required();
  cmd->add_option("--tokenizer", f.tokenizer, "SentencePiece .model instead of the model's own");
  cmd->add_option("--ctx", f.ctx,
                  "Context in tokens (KV cache size); may exceed the trained context (a warning is printed, "
                  "no scaling is applied unless --rope asks for it). 0 = the trained context")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--rope", f.rope, "Position encoding replacing the model's, e.g. dynamic:factor=4,original=512");
  cmd->add_option("--kv-type", f.kv_type,
                  "KV cache storage: f32, bf16, q8_0, or keys and values apart: k=f32,v=q8_0")
      ->capture_default_str();
  cmd->add_option("--weights", f.weights, "Convert every weight matrix at load: f32, bf16 or q8_0 (default: as stored)");
  cmd->add_option("--chunk", f.chunk, "Prompt tokens per forward pass (prefill chunk; scratch grows with it)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--memory-limit-mb", f.memory_limit_mb,
                  "Memory the plan may use, in MB (0 = what the system has available)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", f.quiet, "Do not print the memory plan and statistics");
}

void add_sampling_flags(CLI::App* cmd, SamplingFlags& f, const std::string& max_tokens_help,
                        const std::string& seed_help, bool allow_zero_tokens) {
  cmd->add_flag("--greedy", f.greedy, "Greedy decoding (argmax, lowest id on ties)");
  cmd->add_option("--max-tokens", f.max_tokens, max_tokens_help)->capture_default_str()->check(
      allow_zero_tokens ? CLI::Validator(CLI::NonNegativeNumber) : CLI::Validator(CLI::PositiveNumber));
  cmd->add_option("--temperature", f.temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option("--top-p", f.top_p, "Nucleus sampling mass")->capture_default_str();
  cmd->add_option("--top-k", f.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  cmd->add_option("--seed", f.seed, seed_help)->capture_default_str();
}

model::DecodeOptions decode_options(const SamplingFlags& f, int32_t eos_id) {
  model::DecodeOptions d;
  d.sampling.temperature = f.greedy ? 0.0f : f.temperature;
  d.sampling.top_p = f.top_p;
  d.sampling.top_k = f.top_k;
  d.sampling.seed = f.seed;
  d.max_new_tokens = f.max_tokens;
  d.stop_tokens = {eos_id};
  return d;
}

serve::ModelLoadOptions model_load_options(const EngineFlags& f) {
  serve::ModelLoadOptions o;
  o.path = f.model;
  o.tokenizer = f.tokenizer;
  o.weights = f.weights;
  o.rope = f.rope;
  return o;
}

serve::EngineOptions engine_options(const EngineFlags& f) {
  serve::EngineOptions o;
  o.context = f.ctx;
  o.kv_types = model::parse_kv_types(f.kv_type, "--kv-type");
  o.chunk = f.chunk;
  o.memory_limit = static_cast<size_t>(f.memory_limit_mb * 1e6);
  return o;
}

void report_engine(const serve::Engine& engine, const serve::ServingModel& m, bool quiet) {
  if (!quiet) {
    std::fprintf(stderr, "model: %s (%s weights%s, %lld-token trained context, rope %s), opened in %.3f s\n",
                 m.path.c_str(), m.weights.type_summary().c_str(), m.mapped ? ", mapped in place" : "",
                 static_cast<long long>(m.trained_context), rope::format_rope_spec(m.config().rope).c_str(),
                 m.open_seconds);
    std::fprintf(stderr, "%s\n", engine.plan().summary().c_str());
  }
  if (!engine.context_warning().empty()) std::fprintf(stderr, "%s\n", engine.context_warning().c_str());
}

}  // namespace longctx::cli
