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
class TextTracker {
 public:
  explicit TextTracker(const DecodeOptions& o) : o_(o) {}

  // Re-decodes the tokens; returns true when a stop string now occurs.
  bool update(std::span<const int32_t> tokens) {
    text_ = o_.detokenize(tokens);
    size_t cut = std::string::npos, cut_end = 0;
    for (const std::string& s : o_.stop_strings) {
      const size_t at = text_.find(s);
      if (at != std::string::npos && at < cut) cut = at, cut_end = at + s.size();
    }
    if (cut != std::string::npos) {
      text_.resize(o_.include_stop_string ? cut_end : cut);
      settled_ = text_.size();
      return true;
    }
    settled_ = text_.size() - held_back(text_);
    return false;
  }

  // The newly settled text since the last call.
  std::string_view take_delta() {
    // Pieces can merge across tokens, so text already shown is normally a prefix of the new
    // decoding; if it is not (a rare re-segmentation), nothing more is shown for the overlap.
    size_t from = shown_;
    if (from > settled_ || text_.compare(0, shown_, shown_text_) != 0) from = settled_;
    const std::string_view d(text_.data() + from, settled_ - from);
    shown_text_.assign(text_, 0, settled_);
    shown_ = settled_;
    return d;
  }

  std::string_view flush() {
    settled_ = text_.size();
    return take_delta();
  }
  const std::string& text() const { return text_; }

 private:
  size_t held_back(const std::string& t) const {
    size_t hold = 0;
    for (const std::string& s : o_.stop_strings)  // longest suffix of t that prefixes s
      for (size_t n = std::min(s.size() - 1, t.size()); n > hold; --n)
        if (t.compare(t.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
    static constexpr char kReplacement[] = "\xEF\xBF\xBD";
    if (t.size() >= 3 && t.compare(t.size() - 3, 3, kReplacement) == 0) hold = std::max<size_t>(hold, 3);
    return hold;
  }

  const DecodeOptions& o_;
  std::string text_, shown_text_;
  size_t settled_ = 0, shown_ = 0;
};

}  // namespace

DecodeResult decode(const LlamaModel& model, KVCache& cache, std::span<const int32_t> prompt,
                    const DecodeOptions& options, const DecodeCallback& on_token) {
  options.validate();
  LONGCTX_CHECK(!prompt.empty(), "decode: the prompt is empty (it gives the first logits)");
  LONGCTX_CHECK(cache.position() + static_cast<int64_t>(prompt.size()) <= cache.capacity(),
                "decode: %zu prompt tokens at position %lld do not fit the KV cache of %lld",
                prompt.size(), static_cast<long long>(cache.position()),
                static_cast<long long>(cache.capacity()));
  const int64_t V = model.config.vocab_size;
  DecodeResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<float> logits(static_cast<size_t>(V));  // (V) next-token logits
  Timer timer;
  forward_tokens(model, cache, prompt.data(), static_cast<int64_t>(prompt.size()), logits.data());
  r.prefill_seconds = timer.seconds();
  timer.reset();

  Sampler sampler(options.sampling);
  TextTracker text(options);
  const bool has_text = static_cast<bool>(options.detokenize);
  auto emit = [&](int32_t token, std::string_view delta) {
    if (!on_token) return true;
    return on_token(DecodeEvent{token, static_cast<int64_t>(r.tokens.size()) - 1, delta});
  };
  r.reason = StopReason::kMaxTokens;
  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      r.reason = StopReason::kCancelled;
      break;
    }
    const int32_t next = sampler.sample(logits.data(), V);
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) !=
        options.stop_tokens.end()) {
      r.reason = StopReason::kStopToken;
      break;
    }
    r.tokens.push_back(next);
    const bool stop_string = has_text && text.update(r.tokens);
    if (!emit(next, has_text ? text.take_delta() : std::string_view())) {
      r.reason = stop_string ? StopReason::kStopString : StopReason::kCallback;
      break;
    }
    if (stop_string) {
      r.reason = StopReason::kStopString;
      break;
    }
    if (i + 1 == options.max_new_tokens) break;  // kMaxTokens: no need to run the last token
    if (cache.position() >= cache.capacity()) {
      r.reason = StopReason::kContextFull;
      break;
    }
    forward_tokens(model, cache, &next, 1, logits.data());
  }
  if (has_text) {
    // Whatever was held back is final now (a stop string already cut the text).
    const std::string_view rest = text.flush();
    if (!rest.empty() && on_token)
      on_token(DecodeEvent{-1, static_cast<int64_t>(r.tokens.size()), rest, /*flush=*/true});
    r.text = text.text();
  }
  r.decode_seconds = timer.seconds();
  return r;
}

}  // namespace longctx::model
