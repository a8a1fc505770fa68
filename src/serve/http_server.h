// The OpenAI-compatible HTTP front of the scheduler (cpp-httplib, Debian's libcpp-httplib):
//   POST /v1/completions       (logprobs, echo, token-id prompts, several prompts)
//   POST /v1/chat/completions  (chat template, stream: true as server-sent events)
//   GET  /v1/models            (one model, with its context length)
//   GET  /health               (no key needed)
//   GET  /metrics              (Prometheus text)
// Policies: a prompt longer than the context, or prompt + max_tokens beyond it, is a 400
// naming the numbers (never silent truncation) unless --context-shift was chosen; limits on
// body size (413), prompt tokens and max_tokens (400); a full queue is a 503; a Bearer key,
// when set, is required everywhere but /health (401). A client that disconnects cancels its
// generation: streams notice on the next write, non-streamed requests through a whitespace
// heartbeat (leading whitespace is valid JSON) sent while they wait.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/chat_template.h"
#include "serve/engine.h"
#include "serve/scheduler.h"

namespace longctx::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0 = any free port (bind() returns it)
  std::string api_key;              // empty = no authentication
  size_t max_body_bytes = 16u << 20;
  int64_t max_prompt_tokens = 0;    // 0 = the context
  int64_t max_tokens_limit = 0;     // largest max_tokens accepted; 0 = the context
  bool context_shift = false;       // must match the scheduler's option
  ChatTemplate chat_template = ChatTemplate::kLlama2;
  int heartbeat_ms = 1000;          // keep-alive / disconnect probe interval while waiting
  int threads = 0;                  // HTTP worker threads; 0 = slots + queue + 4
  int64_t queue_limit = 16;         // for the metrics and the thread count
};

class HttpServer {
 public:
  HttpServer(Engine& engine, Scheduler& scheduler, const ServerOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; returns the port. Error naming the address when it cannot.
  int bind();
  // Serves until stop() (from another thread or a signal handler's thread).
  void listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace longctx::serve
