// `longctx generate --model <gguf|hf folder> [--prompt TEXT | --prompt-file F | stdin]`:
// prefill the prompt in chunks, then decode through model/decode.h's loop, streaming the
// continuation to stdout; prefill and decode speed (wall clock and CPU time) and the KV cache
// size go to stderr at the end. Stops at EOS, a --stop string, --max-tokens or the context.
// `--token-ids 1,403,...` / `--token-ids-file F` feed ids as given; `--dump-probs FILE` writes
// the next-token distribution after every prompt position as JSON (for comparing against
// other engines, e.g. llama.cpp in experiments/llamacpp_check). `--save-state F` keeps the
// KV state after generating; `--load-state F` starts from one (its tokens must begin the prompt).
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/engine_options.h"
#include "cli/registry.h"
#include "core/error.h"
#include "model/decode.h"
#include "serve/engine.h"

namespace longctx::cli {
namespace {

struct GenerateOptions {
  EngineFlags engine;
  std::string prompt, prompt_file, token_ids, token_ids_file, dump_probs, save_state, load_state;
  std::vector<std::string> stop;
  SamplingFlags sampling;
  bool no_bos = false, ids = false;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::string read_all(const std::string& path, const char* flag) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  LONGCTX_CHECK(in.good(), "%s: cannot read '%s'", flag, path.c_str());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "1,403 407\n..." -> ids; each must index the vocabulary (vocab_size entries).
std::vector<int32_t> parse_token_ids(const std::string& text, int64_t vocab_size, const char* flag) {
  std::string spaced = text;
  for (char& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    LONGCTX_CHECK(end && *end == '\0' && v >= 0 && v < vocab_size, "%s: '%s' is not a token id in [0, %lld)", flag,
                  word.c_str(), static_cast<long long>(vocab_size));
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

std::vector<int32_t> read_prompt(const GenerateOptions& o, const io::Tokenizer& tok, int64_t vocab) {
  const int given = !o.prompt.empty() + !o.prompt_file.empty() + !o.token_ids.empty() + !o.token_ids_file.empty();
  LONGCTX_CHECK(given <= 1, "--prompt, --prompt-file, --token-ids and --token-ids-file exclude each other");
  if (!o.token_ids.empty()) return parse_token_ids(o.token_ids, vocab, "--token-ids");
  if (!o.token_ids_file.empty())
    return parse_token_ids(read_all(o.token_ids_file, "--token-ids-file"), vocab, "--token-ids-file");
  std::string text = o.prompt;
  if (!o.prompt_file.empty()) text = read_all(o.prompt_file, "--prompt-file");
  else if (given == 0 && !isatty(STDIN_FILENO)) text = read_all("-", "stdin");
  return tok.encode(text, !o.no_bos);
}

// Writes {engine, model, ids, vocab_size, probs} to path, probs[i] (V) = softmax (in double)
// of the logits after ids[0..i]; the prompt goes through in chunks with every row's logits.
void dump_prompt_probs(serve::Session& session, const model::InferenceWeights& w,
                       const std::vector<int32_t>& prompt, const GenerateOptions& o, int64_t chunk) {
  const int64_t V = w.config.vocab_size, n = static_cast<int64_t>(prompt.size());
  model::InferenceWorkspace ws(w.config, chunk);
  std::vector<float> logits(static_cast<size_t>(std::min(chunk, n) * V));  // (chunk, V)
  nlohmann::json probs = nlohmann::json::array();
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t m = std::min(chunk, n - start);
    model::SequenceStep s;
    s.cache = &session.cache();
    s.tokens = std::span<const int32_t>(prompt.data() + start, static_cast<size_t>(m));
    s.logits = logits.data();
    s.all_logits = true;
    s.rope_length = n;
    model::forward_batch(w, std::span<model::SequenceStep>(&s, 1), ws);
    for (int64_t r = 0; r < m; ++r) {
      const float* l = logits.data() + r * V;
      double mx = l[0], sum = 0;
      for (int64_t t = 1; t < V; ++t) mx = std::max(mx, double(l[t]));
      std::vector<double> p(static_cast<size_t>(V));
      for (int64_t t = 0; t < V; ++t) sum += p[t] = std::exp(double(l[t]) - mx);
      for (double& v : p) v /= sum;
      probs.push_back(std::move(p));
    }
  }
  const nlohmann::json doc = {{"engine", "longctx"}, {"model", o.engine.model}, {"ids", prompt},
                              {"vocab_size", V}, {"probs", std::move(probs)}};
  std::ofstream out(o.dump_probs);
  out << doc.dump() << '\n';
  LONGCTX_CHECK(out.good(), "--dump-probs: cannot write '%s'", o.dump_probs.c_str());
  session.set_tokens(prompt);
}

void run_generate(const GenerateOptions& o) {
  const auto m = serve::open_serving_model(model_load_options(o.engine));
  const io::Tokenizer& tok = *m->tokenizer;
  const std::vector<int32_t> prompt = read_prompt(o, tok, m->config().vocab_size);
  LONGCTX_CHECK(!prompt.empty(), "--prompt: empty prompt and --no-bos leave nothing to start from");
  serve::EngineOptions eo = engine_options(o.engine);
  if (eo.context == 0) eo.context = m->trained_context;
  LONGCTX_CHECK(static_cast<int64_t>(prompt.size()) < eo.context,
                "the prompt has %zu tokens but the context holds %lld: raise --ctx (it may exceed the "
                "trained context of %lld)",
                prompt.size(), static_cast<long long>(eo.context), static_cast<long long>(m->trained_context));
  serve::Engine engine(*m, eo);
  report_engine(engine, *m, o.engine.quiet);
  model::DecodeOptions d = decode_options(o.sampling, tok.eos_id());
  d.stop_strings = o.stop;
  d.detokenize = serve::continuation_detokenizer(tok, prompt);
  try {
    d.validate();
  } catch (const Error& e) {
    throw e.with_context("sampling options");
  }
  serve::Session session(engine);
  if (!o.load_state.empty()) {
    session.load_state(o.load_state);
    LONGCTX_CHECK(model::common_prefix(prompt, session.tokens()) == static_cast<int64_t>(session.tokens().size()) &&
                      session.tokens().size() < prompt.size(),
                  "--load-state '%s': its %zu tokens are not a proper prefix of this prompt (a saved state "
                  "only continues the text it was saved from)",
                  o.load_state.c_str(), session.tokens().size());
  }
  if (!o.dump_probs.empty()) {
    // Every prompt position's distribution is written; the decoding loop then reuses the cache
    // (all but the last token) and feeds the last token again to start generating.
    dump_prompt_probs(session, engine.weights(), prompt, o, engine.options().chunk);
  }
  bool first = true;
  const double cpu0 = cpu_seconds();
  double cpu_prefill = 0;
  const serve::SessionResult r = session.generate(prompt, d, [&](const model::DecodeEvent& e) {
    if (first && cpu_prefill == 0) cpu_prefill = cpu_seconds() - cpu0;
    if (o.ids) {
      if (!e.flush) std::printf("%s%d", first ? "" : " ", e.token);
    } else {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
    }
    first = false;
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const double cpu_total = cpu_seconds() - cpu0;
  if (cpu_prefill == 0) cpu_prefill = cpu_total;
  if (!o.save_state.empty()) session.save_state(o.save_state);
  if (o.engine.quiet) return;
  const model::DecodeResult& dr = r.decode;
  const int64_t prefilled = dr.prompt_tokens, generated = static_cast<int64_t>(dr.tokens.size());
  const double decode_cpu = std::max(0.0, cpu_total - cpu_prefill);
  std::fprintf(stderr,
               "prefill: %lld tokens in %.3f s = %.1f tokens/s (CPU %.3f s)%s\n"
               "decode: %lld tokens in %.3f s = %.1f tokens/s (CPU %.3f s); stop: %s\n"
               "KV cache: %s used of %s reserved (%lld of %lld tokens, %s)\n",
               static_cast<long long>(prefilled), dr.prefill_seconds,
               dr.prefill_seconds > 0 ? prefilled / dr.prefill_seconds : 0.0, cpu_prefill,
               r.cached_tokens ? strformat(", %lld prompt tokens reused", static_cast<long long>(r.cached_tokens)).c_str() : "",
               static_cast<long long>(generated), dr.decode_seconds,
               dr.decode_seconds > 0 ? generated / dr.decode_seconds : 0.0, decode_cpu,
               model::stop_reason_name(dr.reason), model::format_bytes(session.cache().bytes_used()).c_str(),
               model::format_bytes(session.cache().bytes()).c_str(), static_cast<long long>(session.cache().position()),
               static_cast<long long>(session.cache().capacity()), model::format_kv_types(engine.options().kv_types).c_str());
}

void add_generate_command(CLI::App& app) {
  static GenerateOptions o;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a GGUF file or Hugging Face folder");
  add_engine_flags(cmd, o.engine);
  cmd->add_option("--prompt", o.prompt, "Prompt text (BOS is prepended; empty = BOS only)");
  cmd->add_option("--prompt-file", o.prompt_file, "Read the prompt text from a file ('-' = stdin; also read "
                                                  "from stdin when no prompt is given and stdin is not a terminal)");
  add_sampling_flags(cmd, o.sampling, "Most tokens to generate", "Sampling seed", /*allow_zero_tokens=*/true);
  cmd->add_option("--stop", o.stop, "Stop when the text contains this string (repeatable; not printed)");
  cmd->add_flag("--no-bos", o.no_bos, "Do not prepend BOS");
  cmd->add_flag("--ids", o.ids, "Print token ids instead of text");
  cmd->add_option("--token-ids", o.token_ids,
                  "Prompt as token ids ('1,403,...'; used as given, BOS not added) instead of --prompt");
  cmd->add_option("--token-ids-file", o.token_ids_file,
                  "Prompt as token ids read from a file ('-' = stdin), separated by spaces, commas or newlines");
  cmd->add_option("--dump-probs", o.dump_probs,
                  "Write the next-token probabilities after each prompt position to this JSON file");
  cmd->add_option("--save-state", o.save_state, "Save the KV state (with a fingerprint) to this file at the end");
  cmd->add_option("--load-state", o.load_state,
                  "Start from a saved KV state; its tokens must begin the prompt (only the rest is prefilled)");
  cmd->callback([] { run_generate(o); });
}

const CommandRegistrar kRegistrar("generate", add_generate_command);

}  // namespace
}  // namespace longctx::cli
