// `longctx generate --model <gguf|hf folder> --prompt "..." [--greedy] --max-tokens N`:
// prefill the prompt, then decode through model/decode.h's loop, printing the continuation as
// it comes. Stops at EOS, a --stop string, --max-tokens or the model's context.
// `--token-ids 1,403,...` feeds ids as given instead of a text prompt; `--dump-probs FILE`
// writes the next-token distribution after every prompt position as JSON (for comparing
// against other engines, e.g. llama.cpp in experiments/llamacpp_check).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/registry.h"
#include "core/error.h"
#include "io/model_io.h"
#include "model/decode.h"
#include "model/inference.h"

namespace longctx::cli {
namespace {

struct GenerateOptions {
  std::string model, prompt, tokenizer, token_ids, dump_probs;
  std::vector<std::string> stop;
  bool greedy = false, no_bos = false, ids = false;
  int64_t max_tokens = 128;
  float temperature = 1.0f, top_p = 1.0f;
  int64_t top_k = 0;
  uint64_t seed = 0;
};

// "1,403 407" -> ids; each must index the vocabulary (vocab_size entries).
std::vector<int32_t> parse_token_ids(const std::string& text, int64_t vocab_size) {
  std::string spaced = text;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    LONGCTX_CHECK(end && *end == '\0' && v >= 0 && v < vocab_size,
                  "--token-ids: '%s' is not a token id in [0, %lld)", word.c_str(),
                  static_cast<long long>(vocab_size));
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

// Runs the prompt one token at a time; writes {engine, model, ids, vocab_size, probs} to
// path, probs[i] (V) = softmax (in double) of the logits after ids[0..i]. Leaves the last
// position's logits in `logits` (V) so generation can continue from there.
void dump_prompt_probs(const model::LlamaModel& m, model::KVCache& cache,
                       const std::vector<int32_t>& prompt, const GenerateOptions& o,
                       float* logits) {
  const int64_t vocab = m.config.vocab_size;
  nlohmann::json probs = nlohmann::json::array();
  for (const int32_t id : prompt) {
    model::forward_tokens(m, cache, &id, 1, logits);
    double max_logit = logits[0];
    for (int64_t t = 1; t < vocab; ++t) max_logit = std::max(max_logit, double(logits[t]));
    std::vector<double> p(static_cast<size_t>(vocab));
    double sum = 0.0;
    for (int64_t t = 0; t < vocab; ++t) sum += p[t] = std::exp(double(logits[t]) - max_logit);
    for (double& v : p) v /= sum;
    probs.push_back(std::move(p));
  }
  const nlohmann::json doc = {{"engine", "longctx"}, {"model", o.model}, {"ids", prompt},
                              {"vocab_size", vocab}, {"probs", std::move(probs)}};
  std::ofstream out(o.dump_probs);
  out << doc.dump() << '\n';
  LONGCTX_CHECK(out.good(), "--dump-probs: cannot write '%s'", o.dump_probs.c_str());
}

void run_generate(const GenerateOptions& o) {
  io::LoadedModel lm = io::load_model(o.model);
  if (!o.tokenizer.empty()) lm.tokenizer = io::Tokenizer::from_file(o.tokenizer);
  LONGCTX_CHECK(lm.tokenizer.has_value(),
                "--model '%s' carries no tokenizer; pass --tokenizer <file.model>", o.model.c_str());
  const io::Tokenizer& tok = *lm.tokenizer;
  const model::LlamaModel& m = lm.model;
  LONGCTX_CHECK(o.token_ids.empty() || o.prompt.empty(), "--token-ids and --prompt exclude each other");
  std::vector<int32_t> prompt = o.token_ids.empty()
                                    ? tok.encode(o.prompt, !o.no_bos)
                                    : parse_token_ids(o.token_ids, m.config.vocab_size);
  LONGCTX_CHECK(!prompt.empty(), "--prompt: empty prompt and --no-bos leave nothing to start from");
  const int64_t capacity = m.config.max_seq_len;
  LONGCTX_CHECK(static_cast<int64_t>(prompt.size()) < capacity,
                "--prompt: %zu tokens do not fit the model's context of %lld", prompt.size(),
                static_cast<long long>(capacity));
  model::DecodeOptions d;
  d.sampling.temperature = o.greedy ? 0.0f : o.temperature;
  d.sampling.top_p = o.top_p;
  d.sampling.top_k = o.top_k;
  d.sampling.seed = o.seed;
  d.max_new_tokens = o.max_tokens;
  d.stop_tokens = {tok.eos_id()};
  d.stop_strings = o.stop;
  d.detokenize = [&tok](std::span<const int32_t> ids) {
    return tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
  };
  try {
    d.validate();
  } catch (const Error& e) {
    throw e.with_context("sampling options");
  }
  model::KVCache cache(m.config, capacity);
  std::span<const int32_t> to_feed(prompt);
  if (!o.dump_probs.empty()) {
    // Every prompt position's distribution is written; the last token is then fed again by
    // the decoding loop (after a one-token rewind) to start generating.
    std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
    dump_prompt_probs(m, cache, prompt, o, logits.data());
    cache.truncate(cache.position() - 1);
    to_feed = to_feed.last(1);
  }
  bool first = true;
  model::decode(m, cache, to_feed, d, [&](const model::DecodeEvent& e) {
    if (o.ids) {
      if (!e.flush) std::printf("%s%d", first ? "" : " ", e.token);
      first = false;
    } else {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
    }
    std::fflush(stdout);
    return true;
  });
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
  cmd->add_option("--stop", o.stop, "Stop when the text contains this string (repeatable; not printed)");
  cmd->add_flag("--no-bos", o.no_bos, "Do not prepend BOS");
  cmd->add_flag("--ids", o.ids, "Print token ids instead of text");
  cmd->add_option("--token-ids", o.token_ids,
                  "Prompt as token ids ('1,403,...'; used as given, BOS not added) instead of --prompt");
  cmd->add_option("--dump-probs", o.dump_probs,
                  "Write the next-token probabilities after each prompt position to this JSON file");
  cmd->callback([] { run_generate(o); });
}

const CommandRegistrar kRegistrar("generate", add_generate_command);

}  // namespace
}  // namespace longctx::cli
