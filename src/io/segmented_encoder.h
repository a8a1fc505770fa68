// Encoding long text in bounded segments, with exactly the tokens of encoding it whole.
//
// SentencePiece encodes one text per call, on one thread, and needs about 100 bytes of memory
// per input byte (measured with the LLaMA 2 tokenizer: 1 MB of text, ~95 MB). Long documents
// are therefore cut into segments (about 64 KiB), encoded separately, in parallel if wanted,
// and joined. A cut is made only where it provably leaves the tokens unchanged, which this
// class derives from the tokenizer's own model (SentencePiece 0.1.97's normalizer.cc,
// bpe_model.cc and PopulateSentencePieceText are the reference):
//
//  1. Normalisation must be character-local: no precompiled character map (normalisation rule
//     "identity", as LLaMA's) and no whitespace-as-suffix. The normaliser then maps each
//     character (or user-defined symbol) on its own, except that add_dummy_prefix puts U+2581
//     before the whole text, and remove_extra_whitespaces drops leading and trailing spaces
//     and collapses runs of them. So the first segment is encoded by the tokenizer as it is
//     and later segments by a copy with add_dummy_prefix off; with remove_extra_whitespaces,
//     neither character next to a cut may be a space (nor U+2581 before it, which the
//     trailing strip also removes). The normalised segments then concatenate to the
//     normalised whole.
//  2. BPE merges must not cross the cut. Every merge makes a vocabulary piece, so a merge
//     across the cut would make a piece holding the character before the cut followed by the
//     one after it: the cut is allowed only when no piece contains that pair (as raw text or
//     normalised). Each side then merges exactly as inside the whole text (the merge agenda
//     orders by score, then position, and never looks across), and resegmentation of unused
//     pieces and byte fallback work per symbol. Unigram models are never cut: their Viterbi
//     search sums float scores, so a part's best path is not provably bit-identical to that
//     stretch of the whole's.
//  3. Without byte fallback SentencePiece folds a run of unknown tokens into one, so joining
//     drops the second of two unknown tokens that meet at a cut.
//
// Where no safe cut exists within max_bytes (30 MB of 'a' on one line, a base64 blob, or a
// tokenizer for which no cut is provable), the text is cut anyway, after a newline if there is
// one, to keep memory bounded; such a segment is marked `proven = false` and the tokens next
// to that cut may differ from those of the whole text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "io/tokenizer.h"

namespace longctx::io {

struct SegmentOptions {
  size_t target_bytes = 64 << 10;  // preferred segment length: cut at the first safe boundary
                                   // from here on (or the last one before)
  size_t max_bytes = 256 << 10;    // hard limit (bounds SentencePiece's memory per call)
};

struct TextSegment {
  size_t begin = 0, end = 0;  // bytes [begin, end) of the text
  bool proven = true;         // the cut at `begin` is proven not to change the tokens
};

class SegmentedEncoder {
 public:
  // Analyses the tokenizer's model; `tokenizer` must outlive this object.
  explicit SegmentedEncoder(const Tokenizer& tokenizer);
  SegmentedEncoder(SegmentedEncoder&&) noexcept;
  ~SegmentedEncoder();

  // Why no cut is provably safe for this tokenizer ("" when cuts can be proven).
  const std::string& unprovable_reason() const { return reason_; }
  bool can_prove_cuts() const { return reason_.empty(); }

  // True when encoding text[0, pos) and text[pos, end) separately (the second part as a
  // continuation) gives the tokens of encoding the text whole. False for pos 0 or past the end,
  // inside a UTF-8 character, or next to invalid UTF-8.
  bool safe_cut(std::string_view text, size_t pos) const;

  // Cuts text into segments covering it in order. Deterministic: depends only on the text,
  // the tokenizer and the options (never on threads). Throws Error for bad options.
  std::vector<TextSegment> plan(std::string_view text, const SegmentOptions& options) const;

  // Tokens of one segment of `text` (segment.begin == 0 gets the dummy prefix, others not).
  std::vector<int32_t> encode_segment(std::string_view text, const TextSegment& segment) const;

  // How many leading tokens of a segment's tokens to drop when they follow `previous` (the
  // last token of the segments before; -1 when there is none): 1 where two unknown tokens meet
  // that SentencePiece would have folded into one, else 0.
  size_t join_skip(int32_t previous, const std::vector<int32_t>& segment_tokens) const;
  // Appends a segment's tokens to the tokens of the segments before it (join_skip applied).
  void append(std::vector<int32_t>& tokens, const std::vector<int32_t>& segment_tokens) const;

  // plan + encode_segment + append, serially (tests, small callers).
  std::vector<int32_t> encode(std::string_view text, const SegmentOptions& options) const;

 private:
  // Where to cut text[begin, limit) when no safe cut exists: after its last newline in the
  // second half of the window, else at the character start at or before limit.
  static size_t fallback_cut(std::string_view text, size_t begin, size_t limit);

  const Tokenizer* tokenizer_;
  std::unique_ptr<Tokenizer> continuation_;  // add_dummy_prefix off; null: same as tokenizer_
  std::unordered_set<uint64_t> pairs_;       // (first << 32 | second) code points inside pieces
  bool escape_whitespaces_ = true;
  bool remove_extra_whitespaces_ = false;
  bool join_unknown_runs_ = false;  // no byte fallback: unknown runs fold into one token
  int32_t unk_id_ = 0;
  std::string reason_;
};

}  // namespace longctx::io
