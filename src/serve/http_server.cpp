#include "serve/http_server.h"

#include <httplib.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "rope/rope_spec.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"

namespace longctx::serve {

using json = nlohmann::json;

namespace {

// One API request on its way: what the response needs, and the generations it started.
struct Job {
  CompletionParams params;
  ResponseContext ctx;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> prompt_texts;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  bool started = false;
  void cancel_all() {
    for (auto& h : handles) h->cancel();
  }
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

bool write(httplib::DataSink& sink, const std::string& s) { return sink.write(s.data(), s.size()); }
std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

}  // namespace

struct HttpServer::Impl {
  Impl(Engine& e, Scheduler& s, const ServerOptions& opt) : engine(e), scheduler(s), o(opt) {}

  Engine& engine;
  Scheduler& scheduler;
  ServerOptions o;
  httplib::Server svr;
  HttpCounters counters;
  std::atomic<uint64_t> next_id{1};
  int64_t started = static_cast<int64_t>(std::time(nullptr));

  const io::Tokenizer& tok() const { return *engine.model().tokenizer; }
  int64_t context() const { return engine.context(); }

  void setup();
  json body_too_large() const {
    return ApiError(413, strformat("the request body exceeds %zu bytes (--max-body-mb)", o.max_body_bytes)).to_json();
  }
  std::shared_ptr<Job> prepare(const std::string& body, bool chat);
  void generate(const std::string& body, httplib::Response& res, bool chat);
  void respond_whole(httplib::Response& res, std::shared_ptr<Job> job);
  void respond_stream(httplib::Response& res, std::shared_ptr<Job> job);
};

void HttpServer::Impl::setup() {
  const int threads = o.threads > 0 ? o.threads
                                    : static_cast<int>(engine.options().sequences + o.queue_limit + 4);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr.set_payload_max_length(o.max_body_bytes);
  svr.set_logger([this](const httplib::Request&, const httplib::Response& res) { counters.count(res.status); });
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (o.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + o.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_json(res, 401, ApiError(401, req.has_header("Authorization")
                                          ? "invalid API key"
                                          : "missing API key: send 'Authorization: Bearer <key>'")
                            .to_json());
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413)
      send_json(res, 413, body_too_large());
    else if (res.status == 404)
      send_json(res, 404, ApiError(404, "no route " + req.method + " " + req.path).to_json());
    else
      send_json(res, res.status, ApiError(res.status, "HTTP error " + std::to_string(res.status)).to_json());
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_json(res, 500, ApiError(500, what).to_json());
  });
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const model::ModelConfig& c = engine.model().config();
    json m = {{"id", engine.model().name},
              {"object", "model"},
              {"created", started},
              {"owned_by", "longctx"},
              {"context_length", context()},
              {"max_model_len", context()},
              {"meta",
               {{"n_ctx_train", engine.model().trained_context},
                {"n_vocab", c.vocab_size},
                {"n_params", c.num_parameters()},
                {"rope", rope::format_rope_spec(c.rope)},
                {"weights", engine.weights().type_summary()},
                {"kv_types", model::format_kv_types(engine.options().kv_types)}}}};
    send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ServerInfo info{engine.model().name, context(), engine.options().sequences, o.queue_limit};
    res.set_content(prometheus_text(info, scheduler.stats(), counters.snapshot()), "text/plain; version=0.0.4");
  });
  // The body is read here rather than by cpp-httplib: it would refuse a body over 8 kB sent
  // as application/x-www-form-urlencoded (what `curl -d` says when no Content-Type is given)
  // before any handler ran. The API's bodies are JSON whatever the header says.
  auto guarded = [this](bool chat) {
    return [this, chat](const httplib::Request&, httplib::Response& res, const httplib::ContentReader& reader) {
      std::string body;
      const bool read = reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
      if (!read) {
        if (res.status == 413)
          send_json(res, 413, body_too_large());
        else
          send_json(res, 400, ApiError(400, "the request body could not be read").to_json());
        return;
      }
      try {
        generate(body, res, chat);
      } catch (const ApiError& e) {
        send_json(res, e.status, e.to_json());
      } catch (const Error& e) {
        send_json(res, 400, ApiError(400, e.what()).to_json());
      }
    };
  };
  svr.Post("/v1/completions", guarded(false));
  svr.Post("/v1/chat/completions", guarded(true));
}

std::shared_ptr<Job> HttpServer::Impl::prepare(const std::string& body, bool chat) {
  auto job = std::make_shared<Job>();
  job->params = chat ? parse_chat_request(body) : parse_completion_request(body);
  const CompletionParams& p = job->params;
  const int64_t V = engine.model().config().vocab_size, ctx = context();
  if (chat) {
    try {
      job->prompts.push_back(render_chat(tok(), p.messages, o.chat_template));
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages");
    }
    job->prompt_texts.push_back("");
  } else {
    for (size_t i = 0; i < p.prompts.size(); ++i) {
      const PromptInput& in = p.prompts[i];
      if (in.text) {
        job->prompts.push_back(tok().encode(*in.text, /*add_bos=*/true));
        job->prompt_texts.push_back(*in.text);
      } else {
        for (const int32_t id : in.ids)
          if (id >= V)
            throw ApiError(400, strformat("token id %d is outside the vocabulary [0, %lld)", id, static_cast<long long>(V)),
                           "prompt");
        job->prompts.push_back(in.ids);
        job->prompt_texts.push_back(tok().decode(in.ids));
      }
    }
  }
  const int64_t max_prompt = o.max_prompt_tokens > 0 ? o.max_prompt_tokens : ctx;
  const int64_t max_new_limit = o.max_tokens_limit > 0 ? o.max_tokens_limit : ctx;
  const char* prompt_param = chat ? "messages" : "prompt";
  int64_t max_tokens = 0;
  for (const std::vector<int32_t>& prompt : job->prompts) {
    const int64_t n = static_cast<int64_t>(prompt.size());
    if (n > max_prompt && max_prompt < ctx)
      throw ApiError(400, strformat("the prompt has %lld tokens; this server accepts at most %lld (--max-prompt-tokens)",
                                    static_cast<long long>(n), static_cast<long long>(max_prompt)), prompt_param);
    if (n >= ctx)
      throw ApiError(400, strformat("the prompt has %lld tokens but the context holds %lld (prompts are never truncated; "
                                    "the server's --ctx sets the context)",
                                    static_cast<long long>(n), static_cast<long long>(ctx)), prompt_param);
    if (p.max_tokens) {
      if (*p.max_tokens > max_new_limit)
        throw ApiError(400, strformat("max_tokens %lld exceeds this server's limit of %lld (--max-tokens-limit)",
                                      static_cast<long long>(*p.max_tokens), static_cast<long long>(max_new_limit)),
                       "max_tokens");
      if (n + *p.max_tokens > ctx && !o.context_shift)
        throw ApiError(400, strformat("the prompt's %lld tokens + max_tokens %lld = %lld exceed the context of %lld tokens "
                                      "(the server refuses overflows; start it with --context-shift to drop old "
                                      "tokens instead, or ask for fewer tokens)",
                                      static_cast<long long>(n), static_cast<long long>(*p.max_tokens),
                                      static_cast<long long>(n + *p.max_tokens), static_cast<long long>(ctx)),
                       "max_tokens");
    }
  }
  const uint64_t id = next_id.fetch_add(1);
  job->ctx.id = strformat(chat ? "chatcmpl-%llu" : "cmpl-%llu", static_cast<unsigned long long>(id));
  job->ctx.model = engine.model().name;
  job->ctx.created = static_cast<int64_t>(std::time(nullptr));
  job->ctx.tokenizer = &tok();
  const io::Tokenizer* t = &tok();
  for (const std::vector<int32_t>& prompt : job->prompts) {
    const int64_t n = static_cast<int64_t>(prompt.size());
    GenerationRequest r;
    r.prompt = prompt;
    r.decode.sampling.temperature = p.temperature;
    r.decode.sampling.top_p = p.top_p;
    r.decode.sampling.top_k = p.top_k;
    r.decode.sampling.seed = p.seed.value_or(id);
    max_tokens = p.max_tokens ? *p.max_tokens : std::min(max_new_limit, ctx - n);
    r.decode.max_new_tokens = max_tokens;
    r.decode.stop_tokens = {t->eos_id()};
    r.decode.stop_strings = p.stop;
    r.decode.detokenize = continuation_detokenizer(*t, prompt);
    r.top_logprobs = p.logprobs;
    r.prompt_logprobs = p.echo && p.logprobs >= 0;
    r.progress = p.stream;
    auto h = scheduler.submit(std::move(r));
    if (!h) {
      job->cancel_all();
      throw ApiError(503, "the server is busy: every slot is running and the queue is full; retry later");
    }
    job->handles.push_back(std::move(h));
  }
  return job;
}

void HttpServer::Impl::generate(const std::string& body, httplib::Response& res, bool chat) {
  std::shared_ptr<Job> job = prepare(body, chat);
  if (job->params.stream)
    respond_stream(res, job);
  else
    respond_whole(res, job);
}

void HttpServer::Impl::respond_whole(httplib::Response& res, std::shared_ptr<Job> job) {
  const auto hb = std::chrono::milliseconds(o.heartbeat_ms);
  res.status = 200;
  res.set_chunked_content_provider(
      "application/json",
      [job, hb](size_t, httplib::DataSink& sink) {
        std::vector<GenerationOutcome> outs;
        auto last_write = std::chrono::steady_clock::now();
        for (auto& h : job->handles) {
          GenerationEvent ev;
          for (;;) {
            if (h->next(ev, hb) && ev.kind == GenerationEvent::Kind::kDone) break;
            // Every heartbeat interval (tokens arrive far more often), whether events came or not.
            if (std::chrono::steady_clock::now() - last_write < hb) continue;
            if (!write(sink, " ")) {  // the client is gone: stop generating for it
              job->cancel_all();
              return false;
            }
            last_write = std::chrono::steady_clock::now();
          }
          outs.push_back(h->outcome());
        }
        json body;
        for (const GenerationOutcome& out : outs)
          if (!out.error.empty()) body = ApiError(500, out.error).to_json();
        if (body.is_null())
          body = job->params.chat ? chat_response(job->ctx, job->params, outs[0])
                                  : completion_response(job->ctx, job->params, job->prompt_texts, job->prompts, outs);
        write(sink, body.dump());
        sink.done();
        return true;
      },
      [job](bool success) {
        if (!success) job->cancel_all();
      });
}

void HttpServer::Impl::respond_stream(httplib::Response& res, std::shared_ptr<Job> job) {
  const auto hb = std::chrono::milliseconds(o.heartbeat_ms);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, hb](size_t, httplib::DataSink& sink) {
        const bool chat = job->params.chat;
        auto fail = [&] {
          job->cancel_all();
          return false;
        };
        if (!job->started) {
          job->started = true;
          const std::string first =
              chat ? sse(chat_chunk(job->ctx, std::string("assistant"), std::string(), std::nullopt, nullptr))
                   : (job->params.echo ? sse(completion_chunk(job->ctx, job->prompt_texts[0], std::nullopt, nullptr)) : "");
          if (!first.empty() && !write(sink, first)) return fail();
        }
        RequestHandle& h = *job->handles[0];
        GenerationEvent ev;
        if (!h.next(ev, hb)) return write(sink, ": keep-alive\n\n") ? true : fail();
        switch (ev.kind) {
          case GenerationEvent::Kind::kProgress:
            if (ev.done < ev.total && !write(sink, strformat(": prefill %lld/%lld tokens\n\n", static_cast<long long>(ev.done),
                                                             static_cast<long long>(ev.total))))
              return fail();
            return true;
          case GenerationEvent::Kind::kToken: {
            if (ev.text.empty() && !ev.logprob) return true;
            const json c = chat ? chat_chunk(job->ctx, std::nullopt, ev.text, ev.logprob, nullptr)
                                : completion_chunk(job->ctx, ev.text, ev.logprob, nullptr);
            return write(sink, sse(c)) ? true : fail();
          }
          case GenerationEvent::Kind::kDone: {
            const GenerationOutcome& out = h.outcome();
            std::string tail;
            if (!out.error.empty()) {
              tail = sse(ApiError(500, out.error).to_json());
            } else {
              const char* reason = finish_reason(out.reason);
              tail = sse(chat ? chat_chunk(job->ctx, std::nullopt, std::nullopt, std::nullopt, reason)
                              : completion_chunk(job->ctx, "", std::nullopt, reason));
              if (job->params.include_usage) tail += sse(usage_chunk(job->ctx, chat, out));
            }
            tail += "data: [DONE]\n\n";
            if (!write(sink, tail)) return false;
            sink.done();
            return true;
          }
        }
        return true;
      },
      [job](bool success) {
        if (!success) job->cancel_all();
      });
}

HttpServer::HttpServer(Engine& engine, Scheduler& scheduler, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(engine, scheduler, options)) {
  LONGCTX_CHECK(engine.model().tokenizer.has_value(), "serve: the model has no tokenizer");
  impl_->setup();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  const ServerOptions& o = impl_->o;
  int port = o.port;
  if (port == 0) {
    port = impl_->svr.bind_to_any_port(o.host);
    LONGCTX_CHECK(port > 0, "serve: cannot bind %s (any port)", o.host.c_str());
  } else {
    LONGCTX_CHECK(impl_->svr.bind_to_port(o.host, port), "serve: cannot bind %s:%d (in use, or not an address of this machine)",
                  o.host.c_str(), port);
  }
  return port;
}

void HttpServer::listen() { impl_->svr.listen_after_bind(); }

void HttpServer::stop() {
  if (impl_ && impl_->svr.is_running()) impl_->svr.stop();
}

}  // namespace longctx::serve
