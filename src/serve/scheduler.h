// Scheduler: the server's engine thread. Requests wait in a bounded queue; up to
// engine.options().sequences of them run at once, each in a slot (a Session: KV cache and
// tokens). Every round, one forward_batch call advances all of them together: each decoding
// slot by one token (one row), prefilling slots by a chunk of their prompt, within the
// engine's chunk of rows, so N parallel requests share every weight read. Generation itself
// is model::SequenceDecoder (the one decoding loop), stepped once per round.
//
// Prefix reuse: a new request goes to the free slot whose cached tokens share the longest
// prefix with its prompt, or takes the prefix from the engine's prefix cache; finished
// sequences are stored there. Cancellation (client gone) ends a generation at the next round.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/decode.h"
#include "serve/engine.h"

namespace longctx::serve {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely tokens first
};

// log_softmax of logits (V) at `token`, with the top k (k >= 0) alternatives.
TokenLogprob token_logprob(const float* logits, int64_t V, int32_t token, int k);

struct GenerationRequest {
  std::vector<int32_t> prompt;
  model::DecodeOptions decode;  // sampling, max_new_tokens, stop tokens/strings, detokenizer
  int top_logprobs = -1;        // < 0: none; k >= 0: each generated token's logprob and top k
  bool prompt_logprobs = false; // logprobs of prompt tokens 1..n-1 too (echo)
  bool progress = false;        // emit prefill progress events (streaming clients)
};

struct GenerationEvent {
  enum class Kind { kProgress, kToken, kDone };
  Kind kind = Kind::kToken;
  int64_t done = 0, total = 0;  // kProgress: prompt tokens processed / all
  int32_t token = -1;           // kToken: the token (-1 for a final text flush)
  std::string text;             // kToken: newly settled text
  std::optional<TokenLogprob> logprob;
};

struct GenerationOutcome {
  model::StopReason reason = model::StopReason::kMaxTokens;
  std::string text;
  std::vector<int32_t> tokens;
  int64_t prompt_tokens = 0, cached_tokens = 0;
  std::vector<TokenLogprob> prompt_logprobs;  // for prompt tokens 1..n-1
  std::vector<TokenLogprob> token_logprobs;   // one per generated token
  double queue_seconds = 0, prefill_seconds = 0, decode_seconds = 0;
  std::string error;  // non-empty: the generation failed
};

// Shared by the submitting (HTTP) thread and the engine thread.
class RequestHandle {
 public:
  // Waits up to timeout for the next event; false on timeout. After kDone, outcome() is set.
  bool next(GenerationEvent& e, std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  const GenerationOutcome& outcome() const { return outcome_; }

 private:
  friend class Scheduler;
  void push(GenerationEvent e);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GenerationEvent> events_;
  std::atomic<bool> cancelled_{false};
  GenerationOutcome outcome_;
};

struct SchedulerOptions {
  int64_t queue_limit = 16;    // requests waiting beyond the running ones; more -> rejected
  bool context_shift = false;  // when a sequence fills its cache: drop old tokens and go on
  int64_t n_keep = 1;          // tokens kept at the start on a shift (BOS at least)
  int64_t min_store_tokens = 64;  // sequences shorter than this are not put in the prefix cache
};

struct SchedulerStats {
  int64_t submitted = 0, rejected = 0, completed = 0, cancelled = 0, failed = 0;
  int64_t queued = 0, active = 0;
  int64_t prompt_tokens = 0, cached_tokens = 0, prefill_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // forward time attributed by rows
  int64_t context_shifts = 0;
  size_t prefix_cache_bytes = 0, prefix_cache_entries = 0;
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const SchedulerOptions& options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; null when the queue is full. The prompt must fit the context.
  std::shared_ptr<RequestHandle> submit(GenerationRequest request);
  SchedulerStats stats() const;
  // Stops the engine thread; pending and running requests end with an error.
  void shutdown();

 private:
  struct Slot;
  struct Pending {
    GenerationRequest request;
    std::shared_ptr<RequestHandle> handle;
    std::chrono::steady_clock::time_point queued_at;
  };
  void run();
  void admit(std::deque<Pending>& incoming);
  void start(Slot& slot, Pending p);
  void round();
  void after_logits(Slot& slot, const float* logits);
  void finish(Slot& slot, const std::string& error = "");

  Engine& engine_;
  SchedulerOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  model::InferenceWorkspace ws_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  int64_t active_ = 0;  // slots running or about to run a request
  SchedulerStats stats_;
  std::thread thread_;
};

}  // namespace longctx::serve
