#include "serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/timer.h"
#include "model/rope_policy.h"

namespace longctx::serve {

using Clock = std::chrono::steady_clock;

TokenLogprob token_logprob(const float* logits, int64_t V, int32_t token, int k) {
  double m = logits[0];
  for (int64_t i = 1; i < V; ++i) m = std::max(m, static_cast<double>(logits[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(static_cast<double>(logits[i]) - m);
  const double lse = m + std::log(s);
  TokenLogprob r;
  r.token = token;
  r.logprob = static_cast<float>(logits[token] - lse);
  if (k > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(V));
    std::iota(ids.begin(), ids.end(), 0);
    const int64_t kk = std::min<int64_t>(k, V);
    std::partial_sort(ids.begin(), ids.begin() + kk, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int64_t i = 0; i < kk; ++i) r.top.emplace_back(ids[i], static_cast<float>(logits[ids[i]] - lse));
  }
  return r;
}

bool RequestHandle::next(GenerationEvent& e, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  e = std::move(events_.front());
  events_.pop_front();
  return true;
}

void RequestHandle::push(GenerationEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

struct Scheduler::Slot {
  explicit Slot(Engine& e) : session(e) {}
  Session session;
  bool busy = false, decoding = false;
  Pending p;
  int64_t fed = 0;               // prompt tokens in the cache
  std::vector<int32_t> tokens;   // what the cache holds
  std::optional<model::SequenceDecoder> decoder;
  std::vector<float> logits;     // (V), or (chunk, V) when prompt logprobs are wanted
  const float* current = nullptr;  // logits the decoder is sampling from (for logprobs)
  int32_t next = -1;
  GenerationOutcome out;
  Clock::time_point started;
};

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options)
    : engine_(engine), options_(options), ws_(engine.weights().config, engine.options().chunk) {
  LONGCTX_CHECK(options.queue_limit >= 0, "--queue must be >= 0");
  for (int64_t i = 0; i < engine.options().sequences; ++i) slots_.push_back(std::make_unique<Slot>(engine));
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RequestHandle> Scheduler::submit(GenerationRequest request) {
  auto handle = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Requests for idle slots pass through the queue too, so they do not count against it.
    const int64_t idle = static_cast<int64_t>(slots_.size()) - active_;
    if (stopping_ || static_cast<int64_t>(queue_.size()) >= options_.queue_limit + idle) {
      ++stats_.rejected;
      return nullptr;
    }
    request.decode.cancel = nullptr;  // set to the handle's flag when the slot starts
    queue_.push_back(Pending{std::move(request), handle, Clock::now()});
    ++stats_.submitted;
  }
  cv_.notify_all();
  return handle;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s = stats_;
  s.queued = static_cast<int64_t>(queue_.size());
  s.active = active_;
  return s;
}

void Scheduler::start(Slot& slot, Pending p) {
  slot.p = std::move(p);
  slot.busy = true;
  slot.decoding = false;
  slot.out = GenerationOutcome{};
  slot.started = Clock::now();
  GenerationRequest& req = slot.p.request;
  const int64_t n = static_cast<int64_t>(req.prompt.size()), V = engine_.weights().config.vocab_size;
  slot.out.prompt_tokens = n;
  slot.out.queue_seconds = std::chrono::duration<double>(slot.started - slot.p.queued_at).count();
  if (n == 0 || n > slot.session.cache().capacity()) {
    finish(slot, strformat("the prompt has %lld tokens; the context holds %lld", static_cast<long long>(n),
                           static_cast<long long>(slot.session.cache().capacity())));
    return;
  }
  // Prompt logprobs need the logits of every prompt position: no reuse then.
  slot.fed = req.prompt_logprobs ? slot.session.reuse_prefix({}) : slot.session.reuse_prefix(req.prompt);
  slot.out.cached_tokens = slot.fed;
  slot.tokens.assign(req.prompt.begin(), req.prompt.begin() + slot.fed);
  slot.logits.resize(static_cast<size_t>((req.prompt_logprobs ? engine_.options().chunk : 1) * V));
  req.decode.cancel = &slot.p.handle->cancelled_;
  Slot* s = &slot;
  slot.decoder.emplace(req.decode, V, [this, s](const model::DecodeEvent& e) {
    GenerationEvent ev;
    ev.kind = GenerationEvent::Kind::kToken;
    ev.token = e.token;
    ev.text = std::string(e.text);
    if (!e.flush && s->p.request.top_logprobs >= 0) {
      ev.logprob = token_logprob(s->current, engine_.weights().config.vocab_size, e.token,
                                 s->p.request.top_logprobs);
      s->out.token_logprobs.push_back(*ev.logprob);
    }
    s->p.handle->push(std::move(ev));
    return true;
  });
}

void Scheduler::admit(std::deque<Pending>& incoming) {
  while (!incoming.empty()) {
    Pending p = std::move(incoming.front());
    incoming.pop_front();
    // The free slot already holding the longest prefix of this prompt.
    Slot* best = nullptr;
    int64_t best_len = -1;
    for (auto& s : slots_) {
      if (s->busy) continue;
      const int64_t l = model::common_prefix(p.request.prompt, s->session.tokens());
      if (l > best_len) best = s.get(), best_len = l;
    }
    start(*best, std::move(p));
  }
}

void Scheduler::after_logits(Slot& slot, const float* logits) {
  model::KVCache& cache = slot.session.cache();
  bool full = cache.position() >= cache.capacity();
  if (full && options_.context_shift) {
    const int64_t keep = std::max<int64_t>(options_.n_keep, 1);
    const int64_t discard = (cache.position() - keep) / 2;
    if (keep < cache.position() && discard > 0) {
      model::shift_context(cache, keep, discard);
      slot.tokens.erase(slot.tokens.begin() + keep, slot.tokens.begin() + keep + discard);
      full = false;
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.context_shifts;
    }
  }
  slot.current = logits;
  const int32_t t = slot.decoder->step(logits, full);
  if (t < 0) {
    finish(slot);
    return;
  }
  slot.next = t;
}

void Scheduler::finish(Slot& slot, const std::string& error) {
  GenerationOutcome& out = slot.out;
  out.error = error;
  if (slot.decoder) {
    const model::DecodeResult& r = slot.decoder->finish();
    out.reason = r.reason;
    out.text = r.text;
    out.tokens = r.tokens;
    out.decode_seconds = r.decode_seconds;
  }
  if (error.empty() && static_cast<int64_t>(slot.tokens.size()) == slot.session.cache().position()) {
    slot.session.set_tokens(slot.tokens);
    if (static_cast<int64_t>(slot.tokens.size()) >= options_.min_store_tokens)
      engine_.prefix_cache().store(slot.tokens, slot.session.cache());
  } else {
    slot.session.cache().reset();
    slot.session.set_tokens({});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error.empty())
      ++stats_.failed;
    else if (out.reason == model::StopReason::kCancelled)
      ++stats_.cancelled;
    else
      ++stats_.completed;
    stats_.prompt_tokens += out.prompt_tokens;
    stats_.cached_tokens += out.cached_tokens;
    stats_.generated_tokens += static_cast<int64_t>(out.tokens.size());
    stats_.prefix_cache_bytes = engine_.prefix_cache().bytes();
    stats_.prefix_cache_entries = engine_.prefix_cache().entries();
    --active_;
  }
  slot.p.handle->outcome_ = out;
  GenerationEvent done;
  done.kind = GenerationEvent::Kind::kDone;
  slot.p.handle->push(std::move(done));
  slot.decoder.reset();
  slot.busy = false;
  slot.p = Pending{};
}

void Scheduler::round() {
  const int64_t V = engine_.weights().config.vocab_size;
  int64_t budget = ws_.max_rows();
  std::vector<model::SequenceStep> steps;
  std::vector<Slot*> owners;
  // Decoding slots first (one row each: latency), then prompt chunks in the remaining rows.
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.busy || !s.decoding || budget == 0) continue;
    if (s.p.handle->cancelled()) {
      s.decoder->step(s.logits.data(), false);  // sees the cancellation before sampling
      finish(s);
      continue;
    }
    model::SequenceStep st;
    st.cache = &s.session.cache();
    st.tokens = std::span<const int32_t>(&s.next, 1);
    st.logits = s.logits.data();
    steps.push_back(st);
    owners.push_back(&s);
    --budget;
  }
  int64_t prefill_rows = 0;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.busy || s.decoding || budget == 0) continue;
    if (s.p.handle->cancelled()) {
      s.decoder->step(s.logits.data(), false);  // sees the cancellation before sampling
      finish(s);
      continue;
    }
    const std::vector<int32_t>& prompt = s.p.request.prompt;
    const int64_t n = static_cast<int64_t>(prompt.size());
    const int64_t m = std::min(budget, n - s.fed);
    model::SequenceStep st;
    st.cache = &s.session.cache();
    st.tokens = std::span<const int32_t>(prompt.data() + s.fed, static_cast<size_t>(m));
    st.rope_length = n;  // the whole prompt's frequencies for every chunk (rope_policy.h)
    if (s.p.request.prompt_logprobs) {
      st.logits = s.logits.data();
      st.all_logits = true;
    } else if (s.fed + m == n) {
      st.logits = s.logits.data();
    }
    steps.push_back(st);
    owners.push_back(&s);
    budget -= m;
    prefill_rows += m;
  }
  if (steps.empty()) return;
  Timer timer;
  model::forward_batch(engine_.weights(), steps, ws_);
  const double seconds = timer.seconds();
  const int64_t decode_rows = static_cast<int64_t>(steps.size()) - static_cast<int64_t>(std::count_if(
                                  owners.begin(), owners.end(), [](const Slot* s) { return !s->decoding; }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    const double rows = static_cast<double>(prefill_rows + decode_rows);
    stats_.prefill_seconds += seconds * prefill_rows / rows;
    stats_.decode_seconds += seconds * decode_rows / rows;
    stats_.prefill_tokens += prefill_rows;
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    Slot& s = *owners[i];
    const model::SequenceStep& st = steps[i];
    const int64_t m = static_cast<int64_t>(st.tokens.size());
    s.tokens.insert(s.tokens.end(), st.tokens.begin(), st.tokens.end());
    if (s.decoding) {
      after_logits(s, s.logits.data());
      continue;
    }
    const std::vector<int32_t>& prompt = s.p.request.prompt;
    const int64_t n = static_cast<int64_t>(prompt.size());
    if (s.p.request.prompt_logprobs)  // row r predicts prompt token fed + r + 1
      for (int64_t r = 0; r < m && s.fed + r + 1 < n; ++r)
        s.out.prompt_logprobs.push_back(token_logprob(s.logits.data() + r * V, V, prompt[s.fed + r + 1],
                                                      std::max(s.p.request.top_logprobs, 0)));
    s.fed += m;
    if (s.p.request.progress) {
      GenerationEvent ev;
      ev.kind = GenerationEvent::Kind::kProgress;
      ev.done = s.fed;
      ev.total = n;
      s.p.handle->push(std::move(ev));
    }
    if (s.fed == n) {
      s.decoding = true;
      s.out.prefill_seconds = std::chrono::duration<double>(Clock::now() - s.started).count();
      after_logits(s, s.logits.data() + (s.p.request.prompt_logprobs ? (m - 1) * V : 0));
    }
  }
}

void Scheduler::run() {
  for (;;) {
    std::deque<Pending> incoming;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || active_ > 0; });
      if (stopping_) break;
      while (active_ < static_cast<int64_t>(slots_.size()) && !queue_.empty()) {
        incoming.push_back(std::move(queue_.front()));
        queue_.pop_front();
        ++active_;  // the slot is taken from now on (start() runs outside the lock)
      }
    }
    try {
      admit(incoming);
      round();
    } catch (const std::exception& e) {
      for (auto& s : slots_)
        if (s->busy) finish(*s, std::string("inference failed: ") + e.what());
    }
  }
  for (auto& s : slots_)
    if (s->busy) finish(*s, "the server is shutting down");
  std::lock_guard<std::mutex> lock(mu_);
  for (Pending& p : queue_) {
    p.handle->outcome_.error = "the server is shutting down";
    GenerationEvent done;
    done.kind = GenerationEvent::Kind::kDone;
    p.handle->push(std::move(done));
  }
  queue_.clear();
}

}  // namespace longctx::serve
