#include "serve/metrics.h"

#include <sstream>

#include "core/error.h"

namespace longctx::serve {

void HttpCounters::count(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++by_status_[status];
}

std::map<int, int64_t> HttpCounters::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_status_;
}

namespace {

void metric(std::ostringstream& o, const char* name, const char* type, const char* help, double value,
            const std::string& labels = "") {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
    << name << labels << ' ' << strformat("%.17g", value) << '\n';
}

}  // namespace

std::string prometheus_text(const ServerInfo& info, const SchedulerStats& s,
                            const std::map<int, int64_t>& responses) {
  std::ostringstream o;
  o << "# HELP longctx_http_responses_total HTTP responses sent, by status code\n"
       "# TYPE longctx_http_responses_total counter\n";
  for (const auto& [status, n] : responses)
    o << "longctx_http_responses_total{code=\"" << status << "\"} " << n << '\n';
  metric(o, "longctx_requests_submitted_total", "counter", "Generation requests accepted into the queue", double(s.submitted));
  metric(o, "longctx_requests_rejected_total", "counter", "Generation requests refused because the queue was full (503)", double(s.rejected));
  metric(o, "longctx_requests_completed_total", "counter", "Generations that ended normally", double(s.completed));
  metric(o, "longctx_requests_cancelled_total", "counter", "Generations cancelled (client disconnected)", double(s.cancelled));
  metric(o, "longctx_requests_failed_total", "counter", "Generations that ended with an error", double(s.failed));
  metric(o, "longctx_queue_length", "gauge", "Requests waiting for a slot", double(s.queued));
  metric(o, "longctx_active_slots", "gauge", "Slots running a generation", double(s.active));
  metric(o, "longctx_slots", "gauge", "Sequences decoded side by side (--parallel)", double(info.slots));
  metric(o, "longctx_context_tokens", "gauge", "KV cache capacity per slot (--ctx)", double(info.context));
  metric(o, "longctx_prompt_tokens_total", "counter", "Prompt tokens of finished requests", double(s.prompt_tokens));
  metric(o, "longctx_cached_prompt_tokens_total", "counter", "Prompt tokens reused from a cached prefix", double(s.cached_tokens));
  metric(o, "longctx_prefill_tokens_total", "counter", "Prompt tokens run through the model", double(s.prefill_tokens));
  metric(o, "longctx_generated_tokens_total", "counter", "Tokens generated", double(s.generated_tokens));
  metric(o, "longctx_prefill_seconds_total", "counter", "Forward time spent on prompt tokens", s.prefill_seconds);
  metric(o, "longctx_decode_seconds_total", "counter", "Forward time spent on generated tokens", s.decode_seconds);
  metric(o, "longctx_prefill_tokens_per_second", "gauge", "Prefill throughput since start",
         s.prefill_seconds > 0 ? s.prefill_tokens / s.prefill_seconds : 0.0);
  metric(o, "longctx_decode_tokens_per_second", "gauge", "Decode throughput since start (all slots)",
         s.decode_seconds > 0 ? s.generated_tokens / s.decode_seconds : 0.0);
  metric(o, "longctx_context_shifts_total", "counter", "Context shifts (--context-shift)", double(s.context_shifts));
  metric(o, "longctx_prefix_cache_bytes", "gauge", "Bytes held by the prefix cache", double(s.prefix_cache_bytes));
  metric(o, "longctx_prefix_cache_entries", "gauge", "Prefixes held by the prefix cache", double(s.prefix_cache_entries));
  o << "# HELP longctx_model_info The served model\n# TYPE longctx_model_info gauge\n"
    << "longctx_model_info{model=\"" << info.model << "\"} 1\n";
  return o.str();
}

}  // namespace longctx::serve
