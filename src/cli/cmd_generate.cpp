// `longctx generate --model <gguf|hf folder> --prompt "..." [--greedy] --max-tokens N`:
// a minimal KV-cache decode (prefill the prompt, then one token at a time) that
// prints the continuation. Stops at EOS, --max-tokens or the model's context.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/registry.h"
#include "core/error.h"
#include "io/model_io.h"
#include "model/inference.h"
#include "model/sampling.h"

namespace longctx::cli {
namespace {

struct GenerateOptions {
  std::string model, prompt, tokenizer;
  bool greedy = false, no_bos = false, ids = false;
  int64_t max_tokens = 128;
  float temperature = 1.0f, top_p = 1.0f;
  int64_t top_k = 0;
  uint64_t seed = 0;
};

void run_generate(const GenerateOptions& o) {
  io::LoadedModel lm = io::load_model(o.model);
  if (!o.tokenizer.empty()) lm.tokenizer = io::Tokenizer::from_file(o.tokenizer);
  LONGCTX_CHECK(lm.tokenizer.has_value(),
                "--model '%s' carries no tokenizer; pass --tokenizer <file.model>", o.model.c_str());
  const io::Tokenizer& tok = *lm.tokenizer;
  const model::LlamaModel& m = lm.model;
  std::vector<int32_t> prompt = tok.encode(o.prompt, !o.no_bos);
  LONGCTX_CHECK(!prompt.empty(), "--prompt: empty prompt and --no-bos leave nothing to start from");
  const int64_t capacity = m.config.max_seq_len;
  LONGCTX_CHECK(static_cast<int64_t>(prompt.size()) < capacity,
                "--prompt: %zu tokens do not fit the model's context of %lld", prompt.size(),
                static_cast<long long>(capacity));
  model::SamplingParams sp;
  sp.temperature = o.greedy ? 0.0f : o.temperature;
  sp.top_p = o.top_p;
  sp.top_k = o.top_k;
  sp.seed = o.seed;
  try {
    sp.validate();
  } catch (const Error& e) {
    throw e.with_context("sampling options");
  }
  model::Sampler sampler(sp);
  model::KVCache cache(m.config, capacity);
  std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
  model::forward_tokens(m, cache, prompt.data(), static_cast<int64_t>(prompt.size()), logits.data());
  std::vector<int32_t> out;
  std::string printed;
  for (int64_t i = 0; i < o.max_tokens; ++i) {
    const int32_t next = o.greedy ? model::argmax(logits.data(), m.config.vocab_size)
                                  : sampler.sample(logits.data(), m.config.vocab_size);
    if (next == tok.eos_id()) break;
    out.push_back(next);
    if (o.ids) {
      std::printf("%s%d", i ? " " : "", next);
    } else {
      // Print the new suffix of the decoded text (pieces merge across tokens).
      const std::string text = tok.decode(out);
      if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0)
        std::fputs(text.c_str() + printed.size(), stdout);
      printed = text;
    }
    std::fflush(stdout);
    if (cache.position() >= capacity) break;
    model::forward_tokens(m, cache, &next, 1, logits.data());
  }
  std::fputc('\n', stdout);
}

void add_generate_command(CLI::App& app) {
  static GenerateOptions o;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a GGUF file or Hugging Face folder");
  cmd->add_option("--model", o.model, "A .gguf file or a Hugging Face folder")->required();
  cmd->add_option("--prompt", o.prompt, "Prompt text (BOS is prepended; empty = BOS only)");
  cmd->add_option("--tokenizer", o.tokenizer, "SentencePiece .model instead of the model's own");
  cmd->add_flag("--greedy", o.greedy, "Greedy decoding (argmax, lowest id on ties)");
  cmd->add_option("--max-tokens", o.max_tokens, "Most tokens to generate")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", o.temperature, "Sampling temperature")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Nucleus sampling mass")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--no-bos", o.no_bos, "Do not prepend BOS");
  cmd->add_flag("--ids", o.ids, "Print token ids instead of text");
  cmd->callback([] { run_generate(o); });
}

const CommandRegistrar kRegistrar("generate", add_generate_command);

}  // namespace
}  // namespace longctx::cli
