#include "model/decode.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

namespace longctx::model {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kStopToken: return "stop_token";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kCallback: return "callback";
  }
  return "unknown";
}

void DecodeOptions::validate() const {
  try {
    sampling.validate();
  } catch (const Error& e) {
    throw e.with_context("DecodeOptions.sampling");
  }
  LONGCTX_CHECK(max_new_tokens >= 0, "DecodeOptions.max_new_tokens: must be >= 0, got %lld",
                static_cast<long long>(max_new_tokens));
  LONGCTX_CHECK(stop_strings.empty() || detokenize,
                "DecodeOptions.stop_strings: need a detokenizer to match text");
  for (const std::string& s : stop_strings)
    LONGCTX_CHECK(!s.empty(), "DecodeOptions.stop_strings: empty stop string");
}

namespace {

// Tracks the decoded text and decides how much of it may be shown: a stop string ends it,
// and a tail that could still turn into a stop string (or an unfinished UTF-8 sequence,
// which SentencePiece decodes as U+FFFD) is held back.
//
// The text grows incrementally, so a step costs the same at token 10 and at token 10,000:
// only a window of the last tokens is decoded, twice, and the difference appended:
// decode(tokens[prefix, end)) minus decode(tokens[prefix, read)), where read is where the
// text was complete last time and prefix where it was complete the time before. The window
// keeps those tokens as context before `read`, so whatever the detokenizer does at the start of a text (e.g.
// SentencePiece dropping the leading space of the first piece) happens in both decodings
// and cancels. A window ending in an unfinished UTF-8 sequence is not taken until the
// sequence completes (or at the end). If the longer decoding does not start with the
// shorter (a detokenizer that re-segments across the window), the whole output is decoded.
class TextTracker {
 public:
  explicit TextTracker(const DecodeOptions& o) : o_(o) {
    for (const std::string& s : o_.stop_strings) longest_stop_ = std::max(longest_stop_, s.size());
  }

  // Extends the text by the new tokens; returns true when a stop string now occurs.
  bool update(std::span<const int32_t> tokens) {
    const size_t searched = text_.size();
    append_window(tokens, /*final=*/false);
    // A stop string can only end in the new text: search from where it could start.
    const size_t from = !rewritten_ && searched >= longest_stop_ ? searched - longest_stop_ + 1 : 0;
    size_t cut = std::string::npos, cut_end = 0;
    for (const std::string& s : o_.stop_strings) {
      const size_t at = text_.find(s, from);
      if (at != std::string::npos && at < cut) cut = at, cut_end = at + s.size();
    }
    if (cut != std::string::npos) {
      text_.resize(o_.include_stop_string ? cut_end : cut);
      settled_ = text_.size();
      stopped_ = true;
      return true;
    }
    settled_ = text_.size() - held_back(text_);
    return false;
  }
  // The newly settled text since the last call.
  std::string_view take_delta() {
    // The text only grows, except when a re-segmentation made it decoded anew: then what was
    // shown may not be a prefix of it, and nothing more is shown for the overlap.
    size_t from = std::min(shown_, settled_);
    if (rewritten_ && text_.compare(0, shown_, shown_text_) != 0) from = settled_;
    rewritten_ = false;
    const std::string_view d(text_.data() + from, settled_ - from);
    shown_text_.append(d);
    shown_ = shown_text_.size();
    return d;
  }

  // The end: text still pending (an unfinished UTF-8 sequence) or held back becomes final.
  std::string_view flush(std::span<const int32_t> tokens) {
    if (!stopped_) append_window(tokens, /*final=*/true);
    settled_ = text_.size();
    return take_delta();
  }
  const std::string& text() const { return text_; }

 private:
  static bool ends_unfinished(const std::string& t) {
    static constexpr char kReplacement[] = "\xEF\xBF\xBD";
    return t.size() >= 3 && t.compare(t.size() - 3, 3, kReplacement) == 0;
  }

  void append_window(std::span<const int32_t> tokens, bool final) {
    if (read_ >= tokens.size()) return;
    const std::string before = o_.detokenize(tokens.subspan(prefix_, read_ - prefix_));
    const std::string window = o_.detokenize(tokens.subspan(prefix_));
    if (window.compare(0, before.size(), before) != 0) {  // re-segmented: decode it all
      text_ = o_.detokenize(tokens);
      prefix_ = tokens.size() - 1;  // the next window: the last token as context, then new ones
      read_ = tokens.size();
      rewritten_ = true;
      return;
    }
    if (window.size() == before.size() && !final) return;  // nothing printable yet
    if (ends_unfinished(window) && !final) return;         // wait for the sequence's end
    text_.append(window, before.size());
    prefix_ = read_;
    read_ = tokens.size();
  }

  size_t held_back(const std::string& t) const {
    size_t hold = 0;
    for (const std::string& s : o_.stop_strings)  // longest suffix of t that prefixes s
      for (size_t n = std::min(s.size() - 1, t.size()); n > hold; --n)
        if (t.compare(t.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
    if (ends_unfinished(t)) hold = std::max<size_t>(hold, 3);
    return hold;
  }

  DecodeOptions o_;  // a copy: the tracker moves with its SequenceDecoder
  std::string text_, shown_text_;
  size_t settled_ = 0, shown_ = 0;
  size_t prefix_ = 0, read_ = 0;  // window of tokens decoded per step: [prefix_, end)
  size_t longest_stop_ = 0;
  bool stopped_ = false, rewritten_ = false;
};

}  // namespace

struct SequenceDecoder::Text {
  TextTracker tracker;
};

SequenceDecoder::SequenceDecoder(const DecodeOptions& options, int64_t vocab_size,
                                 DecodeCallback on_token)
    : options_(options), vocab_size_(vocab_size), on_token_(std::move(on_token)),
      sampler_(options.sampling) {
  options_.validate();
  if (options_.detokenize) text_ = std::make_unique<Text>(Text{TextTracker(options_)});
}
SequenceDecoder::~SequenceDecoder() = default;
SequenceDecoder::SequenceDecoder(SequenceDecoder&&) noexcept = default;
SequenceDecoder& SequenceDecoder::operator=(SequenceDecoder&&) noexcept = default;

int32_t SequenceDecoder::step(const float* logits, bool cache_full) {
  if (finished_) return -1;
  DecodeResult& r = result_;
  auto end = [&](StopReason reason) {
    r.reason = reason;
    finished_ = true;
    return -1;
  };
  const int64_t i = static_cast<int64_t>(r.tokens.size());
  if (i >= options_.max_new_tokens) return end(StopReason::kMaxTokens);
  if (options_.cancel && options_.cancel->load(std::memory_order_relaxed)) return end(StopReason::kCancelled);
  const int32_t next = sampler_.sample(logits, vocab_size_);
  if (std::find(options_.stop_tokens.begin(), options_.stop_tokens.end(), next) !=
      options_.stop_tokens.end())
    return end(StopReason::kStopToken);
  r.tokens.push_back(next);
  const bool stop_string = text_ && text_->tracker.update(r.tokens);
  if (on_token_ && !on_token_(DecodeEvent{next, i, text_ ? text_->tracker.take_delta() : std::string_view()}))
    return end(stop_string ? StopReason::kStopString : StopReason::kCallback);
  if (stop_string) return end(StopReason::kStopString);
  if (i + 1 == options_.max_new_tokens) return end(StopReason::kMaxTokens);  // no need to run it
  if (cache_full) return end(StopReason::kContextFull);
  return next;
}

const DecodeResult& SequenceDecoder::finish() {
  if (flushed_) return result_;
  finished_ = flushed_ = true;
  if (text_) {
    // Whatever was held back is final now (a stop string already cut the text).
    const std::string_view rest = text_->tracker.flush(result_.tokens);
    if (!rest.empty() && on_token_)
      on_token_(DecodeEvent{-1, static_cast<int64_t>(result_.tokens.size()), rest, /*flush=*/true});
    result_.text = text_->tracker.text();
  }
  result_.decode_seconds = timer_.seconds();
  return result_;
}

DecodeResult decode(const InferenceWeights& weights, KVCache& cache, InferenceWorkspace& ws,
                    std::span<const int32_t> prompt, const DecodeOptions& options,
                    const DecodeCallback& on_token) {
  options.validate();
  LONGCTX_CHECK(!prompt.empty(), "decode: the prompt is empty (it gives the first logits)");
  LONGCTX_CHECK(cache.position() + static_cast<int64_t>(prompt.size()) <= cache.capacity(),
                "decode: %zu prompt tokens at position %lld do not fit the KV cache of %lld",
                prompt.size(), static_cast<long long>(cache.position()),
                static_cast<long long>(cache.capacity()));
  const int64_t V = weights.config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(V));  // (V) next-token logits
  Timer timer;
  forward_tokens(weights, cache, ws, prompt.data(), static_cast<int64_t>(prompt.size()), logits.data());
  const double prefill_seconds = timer.seconds();
  SequenceDecoder decoder(options, V, on_token);
  for (int32_t next; (next = decoder.step(logits.data(), cache.position() >= cache.capacity())) >= 0;)
    forward_tokens(weights, cache, ws, &next, 1, logits.data());
  DecodeResult r = decoder.finish();
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  r.prefill_seconds = prefill_seconds;
  return r;
}

DecodeResult decode(const LlamaModel& model, KVCache& cache, std::span<const int32_t> prompt,
                    const DecodeOptions& options, const DecodeCallback& on_token) {
  InferenceWorkspace ws(model.config, std::clamp<int64_t>(static_cast<int64_t>(prompt.size()), 1, kPrefillChunk));
  return decode(InferenceWeights::view(model), cache, ws, prompt, options, on_token);
}

}  // namespace longctx::model
