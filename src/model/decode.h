// The one decoding loop: prompt tokens in, generated tokens out through a callback.
// Used by `longctx generate`, `longctx chat`, the retrieval probes of eval/ and the server
// (which drives the same loop step by step, SequenceDecoder, to batch many sequences). The model's
// weights are immutable and all sequence state lives in the caller-owned KVCache, so many
// sessions can decode side by side; the loop itself keeps nothing between calls.
//
//   model::DecodeOptions o;
//   o.sampling.temperature = 0;                 // greedy
//   o.max_new_tokens = 64;
//   o.stop_tokens = {tokenizer.eos_id()};
//   o.stop_strings = {"\n"};
//   o.detokenize = [&](std::span<const int32_t> ids) { return tokenizer.decode({ids.begin(), ids.end()}); };
//   DecodeResult r = model::decode(model, cache, prompt, o, [](const DecodeEvent& e) {
//     std::fputs(std::string(e.text).c_str(), stdout);
//     return true;  // false stops the generation
//   });
//
// Order of checks for every new token: cancellation, then the token is sampled; a stop
// token ends the generation without being emitted; otherwise it is appended and the text
// (when a detokenizer is given) is checked for stop strings; then the token limit and the
// cache capacity. A token is fed through the model only when another one will be sampled.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/timer.h"
#include "model/inference.h"
#include "model/sampling.h"

namespace longctx::model {

enum class StopReason {
  kStopToken,    // a token of stop_tokens (e.g. EOS) was sampled; it is not part of the output
  kStopString,   // the decoded text contains a stop string
  kMaxTokens,    // max_new_tokens generated
  kContextFull,  // the KV cache is full
  kCancelled,    // *cancel became true
  kCallback,     // the callback returned false
};
// "stop_token", "stop_string", "max_tokens", "context_full", "cancelled", "callback".
const char* stop_reason_name(StopReason reason);

// Token ids -> text (e.g. io::Tokenizer::decode); model/ does not know tokenizers.
using Detokenizer = std::function<std::string(std::span<const int32_t>)>;

struct DecodeOptions {
  SamplingParams sampling;         // temperature 0 = greedy (argmax, lowest id on ties)
  int64_t max_new_tokens = 128;    // >= 0; 0 only runs the prompt
  std::vector<int32_t> stop_tokens;       // typically {EOS}
  std::vector<std::string> stop_strings;  // need `detokenize`; matched in the generated text only
  bool include_stop_string = false;       // keep the matched stop string at the end of `text`
  Detokenizer detokenize;                 // empty: no text, no stop strings
  const std::atomic<bool>* cancel = nullptr;  // checked before every sampled token
  void validate() const;                  // throws Error naming the field
};

// One generated token. `text` is the newly printable text: the decoded output grows by it,
// except that text which might still become a stop string (a prefix of one at the end) or
// an unfinished UTF-8 sequence is held back until it is decided; with no detokenizer it is
// empty. index counts generated tokens from 0. When text was still held back at the end, one
// last event with token = -1 and flush = true delivers it, so the texts of all events add up
// to DecodeResult::text.
struct DecodeEvent {
  int32_t token = 0;
  int64_t index = 0;
  std::string_view text;
  bool flush = false;
};
// Return false to stop after this token (StopReason::kCallback).
using DecodeCallback = std::function<bool(const DecodeEvent&)>;

struct DecodeResult {
  std::vector<int32_t> tokens;  // generated ids (a stop token is not included)
  std::string text;             // their text, cut at a stop string (empty without detokenizer)
  StopReason reason = StopReason::kMaxTokens;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Appends prompt at cache.position() (it may already hold earlier turns), then samples up to
// max_new_tokens. prompt must not be empty (the last prompt token gives the first logits).
// Throws Error when the prompt does not fit the cache or contains ids outside the vocabulary.
DecodeResult decode(const LlamaModel& model, KVCache& cache, std::span<const int32_t> prompt,
                    const DecodeOptions& options, const DecodeCallback& on_token = {});
// The same over inference weights (f32/bf16/Q8_0, possibly memory-mapped) and a caller-owned
// workspace.
DecodeResult decode(const InferenceWeights& weights, KVCache& cache, InferenceWorkspace& ws,
                    std::span<const int32_t> prompt, const DecodeOptions& options,
                    const DecodeCallback& on_token = {});

// The loop one step at a time, for callers that run the forward passes themselves (the
// server batches the steps of many sequences into one forward). After each forward, pass
// the logits to step(): it samples and applies the checks in the order described above,
// reports through the callback, and returns the token to feed next, or -1 when the
// generation has ended (result().reason says why). finish() then flushes held-back text.
class SequenceDecoder {
 public:
  SequenceDecoder(const DecodeOptions& options, int64_t vocab_size, DecodeCallback on_token = {});
  ~SequenceDecoder();
  SequenceDecoder(SequenceDecoder&&) noexcept;
  SequenceDecoder& operator=(SequenceDecoder&&) noexcept;

  // logits (vocab_size) after the last fed token; cache_full: no room to feed another one.
  int32_t step(const float* logits, bool cache_full);
  bool finished() const { return finished_; }
  // Ends the generation (flushing held text through the callback) and returns the result;
  // decode_seconds counts from construction. Further calls return the same result.
  const DecodeResult& finish();
  const DecodeResult& result() const { return result_; }

 private:
  struct Text;
  DecodeOptions options_;
  int64_t vocab_size_;
  DecodeCallback on_token_;
  Sampler sampler_;
  std::unique_ptr<Text> text_;
  DecodeResult result_;
  Timer timer_;
  bool finished_ = false, flushed_ = false;
};

}  // namespace longctx::model
