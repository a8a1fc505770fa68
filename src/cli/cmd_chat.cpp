// `longctx chat --model M [--template llama2|plain] [--system TEXT]`: an interactive chat in
// the terminal. Each line typed is a user turn; the reply streams as it is generated. The
// whole conversation is rendered with the template every turn, and the session's KV cache
// keeps the tokens it already holds, so only the new turn is prefilled. When the
// conversation outgrows the context, the oldest exchanges are dropped (the system message
// stays). Ctrl-C stops a reply and returns to the prompt; Ctrl-C at the prompt, Ctrl-D or
// /exit ends the session; /reset forgets the conversation.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/engine_options.h"
#include "cli/registry.h"
#include "core/error.h"
#include "serve/chat_template.h"
#include "serve/engine.h"

namespace longctx::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

struct ChatOptions {
  EngineFlags engine;
  std::string chat_template = "llama2", system;
  SamplingFlags sampling{.max_tokens = 256, .temperature = 0.8f, .top_p = 0.95f, .top_k = 40};
};

// Reads one line; false at end of input or when Ctrl-C interrupted the read.
bool read_line(std::string& line) {
  std::fputs("> ", stdout);
  std::fflush(stdout);
  g_interrupted.store(false);
  if (std::getline(std::cin, line)) return true;
  return false;
}

void run_chat(const ChatOptions& o) {
  const auto m = serve::open_serving_model(model_load_options(o.engine));
  const io::Tokenizer& tok = *m->tokenizer;
  const serve::ChatTemplate tmpl = serve::parse_chat_template(o.chat_template, "--template");
  serve::Engine engine(*m, engine_options(o.engine));
  report_engine(engine, *m, o.engine.quiet);
  LONGCTX_CHECK(o.sampling.max_tokens < engine.context(), "--max-tokens %lld leaves no room in the context of %lld",
                static_cast<long long>(o.sampling.max_tokens), static_cast<long long>(engine.context()));
  serve::Session session(engine);
  model::DecodeOptions d = decode_options(o.sampling, tok.eos_id());
  d.cancel = &g_interrupted;

  // SIGINT interrupts a blocking read (no SA_RESTART) and cancels a reply.
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);

  std::vector<serve::ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  std::vector<int32_t> history;  // the conversation's tokens as the model saw and generated them
  std::fprintf(stderr, "chat (%s template): type a message; Ctrl-C stops a reply, Ctrl-D or /exit quits, /reset forgets\n",
               serve::chat_template_name(tmpl));
  std::string line;
  for (int64_t turn = 0;; ++turn) {
    if (!read_line(line)) {
      std::fputc('\n', stdout);
      break;  // Ctrl-D, or Ctrl-C at the prompt
    }
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.resize(o.system.empty() ? 0 : 1);
      history.clear();
      std::fputs("(conversation forgotten)\n", stdout);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    const int64_t room = engine.context() - o.sampling.max_tokens;  // prompt tokens a turn may use
    std::vector<int32_t> prompt;
    if (!history.empty()) {  // continue the kept tokens: the whole cached conversation is reused
      prompt = history;
      const std::vector<int32_t> turn = serve::render_user_turn(tok, line, tmpl);
      prompt.insert(prompt.end(), turn.begin(), turn.end());
    }
    if (history.empty() || static_cast<int64_t>(prompt.size()) > room) {
      try {
        const int64_t dropped = serve::fit_history(tok, messages, tmpl, room);
        if (dropped > 0)
          std::fprintf(stderr, "(dropped the %lld oldest messages to stay within --ctx)\n", static_cast<long long>(dropped));
      } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        messages.pop_back();
        continue;
      }
      prompt = serve::render_chat(tok, messages, tmpl);
    }
    g_interrupted.store(false);
    d.sampling.seed = o.sampling.seed + static_cast<uint64_t>(turn);
    d.detokenize = serve::continuation_detokenizer(tok, prompt);
    const serve::SessionResult r = session.generate(prompt, d, [](const model::DecodeEvent& e) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    if (r.decode.reason == model::StopReason::kCancelled) std::fputs(" [stopped]", stdout);
    std::fputc('\n', stdout);
    if (!o.engine.quiet)
      std::fprintf(stderr, "(%lld prompt tokens, %lld reused; %lld generated at %.1f tokens/s)\n",
                   static_cast<long long>(prompt.size()), static_cast<long long>(r.cached_tokens),
                   static_cast<long long>(r.decode.tokens.size()),
                   r.decode.decode_seconds > 0 ? r.decode.tokens.size() / r.decode.decode_seconds : 0.0);
    messages.push_back({"assistant", r.decode.text});
    history = prompt;
    history.insert(history.end(), r.decode.tokens.begin(), r.decode.tokens.end());
    if (tmpl == serve::ChatTemplate::kLlama2) history.push_back(tok.eos_id());
    g_interrupted.store(false);
  }
}

void add_chat_command(CLI::App& app) {
  static ChatOptions o;
  CLI::App* cmd = app.add_subcommand("chat", "Interactive chat in the terminal (Llama 2 chat template or plain)");
  add_engine_flags(cmd, o.engine);
  cmd->add_option("--template", o.chat_template, "llama2 (Meta's [INST] format) or plain (continue the text)")
      ->capture_default_str();
  cmd->add_option("--system", o.system, "System message (llama2 template)");
  add_sampling_flags(cmd, o.sampling, "Most tokens per reply", "Sampling seed (turn i uses seed + i)", /*allow_zero_tokens=*/false);
  cmd->callback([] { run_chat(o); });
}

const CommandRegistrar kRegistrar("chat", add_chat_command);

}  // namespace
}  // namespace longctx::cli
