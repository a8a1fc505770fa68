// `longctx serve --model M [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]
// [--ctx N]`: the OpenAI-compatible HTTP server (serve/http_server.h). Loopback only unless
// --host says otherwise; SIGINT/SIGTERM stop it cleanly (running requests end with an error).
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cli/engine_options.h"
#include "cli/registry.h"
#include "core/error.h"
#include "serve/http_server.h"
#include "serve/kv_state_file.h"
#include "serve/scheduler.h"

namespace longctx::cli {
namespace {

struct ServeOptions {
  EngineFlags engine;
  serve::ServerOptions server;
  std::string chat_template = "llama2", port_file;
  std::vector<std::string> load_states;
  int64_t parallel = 1, n_keep = 1;
  double max_body_mb = 16, prefix_cache_mb = 1024;
};

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void run_serve(ServeOptions& o) {
  // Signals are taken by one thread (sigwait) so every other thread runs undisturbed.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (o.server.api_key.empty())
    if (const char* k = std::getenv("LONGCTX_API_KEY")) o.server.api_key = k;
  const auto m = serve::open_serving_model(model_load_options(o.engine));
  serve::EngineOptions eo = engine_options(o.engine);
  eo.sequences = o.parallel;
  eo.prefix_cache_bytes = static_cast<size_t>(o.prefix_cache_mb * 1e6);
  eo.logits_rows = eo.chunk;  // echo + logprobs keep a chunk of logits
  serve::Engine engine(*m, eo);
  report_engine(engine, *m, o.engine.quiet);
  for (const std::string& path : o.load_states) {  // saved states become prefix-cache entries
    serve::Session s(engine);
    s.load_state(path);
    engine.prefix_cache().store(s.tokens(), s.cache());
    std::fprintf(stderr, "loaded KV state '%s' (%zu tokens) into the prefix cache\n", path.c_str(), s.tokens().size());
  }
  serve::SchedulerOptions so;
  so.queue_limit = o.server.queue_limit;
  so.context_shift = o.server.context_shift;
  so.n_keep = o.n_keep;
  serve::Scheduler scheduler(engine, so);
  o.server.chat_template = serve::parse_chat_template(o.chat_template, "--chat-template");
  o.server.max_body_bytes = static_cast<size_t>(o.max_body_mb * 1e6);
  serve::HttpServer server(engine, scheduler, o.server);
  const int port = server.bind();
  if (!loopback(o.server.host) && o.server.api_key.empty())
    std::fprintf(stderr, "warning: listening on %s without --api-key: anyone who can reach it can use it\n",
                 o.server.host.c_str());
  if (!o.port_file.empty()) {
    std::ofstream(o.port_file) << port << '\n';
  }
  std::fprintf(stderr, "serving '%s' on http://%s:%d (%lld slot%s, context %lld, queue %lld)%s\n", m->name.c_str(),
               o.server.host.c_str(), port, static_cast<long long>(o.parallel), o.parallel == 1 ? "" : "s",
               static_cast<long long>(engine.context()), static_cast<long long>(o.server.queue_limit),
               o.server.api_key.empty() ? "" : ", API key required");
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "signal %d: stopping\n", sig);
    server.stop();
  });
  server.listen();
  scheduler.shutdown();
  pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if the server stopped otherwise
  waiter.join();
}

void add_serve_command(CLI::App& app) {
  static ServeOptions o;
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions)");
  add_engine_flags(cmd, o.engine);
  serve::ServerOptions& s = o.server;
  cmd->add_option("--host", s.host, "Address to listen on (loopback by default)")->capture_default_str();
  cmd->add_option("--port", s.port, "Port (0 = any free port; see --port-file)")->capture_default_str();
  cmd->add_option("--port-file", o.port_file, "Write the port listened on to this file");
  cmd->add_option("--api-key", s.api_key, "Require 'Authorization: Bearer KEY' (also from $LONGCTX_API_KEY)");
  cmd->add_option("--parallel", o.parallel, "Sequences decoded together (slots)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--queue", s.queue_limit, "Requests waiting beyond the slots; more get 503")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-body-mb", o.max_body_mb, "Largest request body in MB (413 above)")->capture_default_str();
  cmd->add_option("--max-prompt-tokens", s.max_prompt_tokens, "Largest prompt in tokens (0 = the context)")
      ->capture_default_str();
  cmd->add_option("--max-tokens-limit", s.max_tokens_limit, "Largest max_tokens accepted (0 = the context)")
      ->capture_default_str();
  cmd->add_flag("--context-shift", s.context_shift,
                "When a sequence fills the context, drop old tokens (after --n-keep) instead of refusing "
                "requests whose prompt + max_tokens exceed it");
  cmd->add_option("--n-keep", o.n_keep, "Tokens kept at the start on a context shift")->capture_default_str();
  cmd->add_option("--chat-template", o.chat_template, "llama2 or plain")->capture_default_str();
  cmd->add_option("--prefix-cache-mb", o.prefix_cache_mb, "Memory for cached prompt prefixes in MB (0 = off)")
      ->capture_default_str();
  cmd->add_option("--load-state", o.load_states, "Saved KV state to put in the prefix cache (repeatable)");
  cmd->add_option("--heartbeat-ms", s.heartbeat_ms, "Keep-alive interval while a client waits")->capture_default_str();
  cmd->callback([] { run_serve(o); });
}

const CommandRegistrar kRegistrar("serve", add_serve_command);

}  // namespace
}  // namespace longctx::cli
