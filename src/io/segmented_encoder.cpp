#include "io/segmented_encoder.h"

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"
#include "io/sentencepiece_proto.h"

namespace longctx::io {
namespace {

constexpr uint32_t kSpaceSymbol = 0x2581;  // U+2581, SentencePiece's escaped space
constexpr int32_t kBpeModelType = 2;

uint64_t pair_key(uint32_t first, uint32_t second) {
  return (static_cast<uint64_t>(first) << 32) | second;
}

// The code point that ends right before byte `pos` (0 < pos <= n); false when the bytes there
// are not one valid UTF-8 character.
bool char_before(const unsigned char* s, size_t pos, size_t n, uint32_t* cp) {
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && utf8_is_continuation(s[start])) --start;
  return utf8_decode(s, start, n, cp) == pos - start;
}

}  // namespace

SegmentedEncoder::SegmentedEncoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {
  const std::string proto = tokenizer.serialized_proto();
  const SpModel m = parse_sp_model(proto, tokenizer.origin());
  escape_whitespaces_ = m.escape_whitespaces;
  remove_extra_whitespaces_ = m.remove_extra_whitespaces;
  join_unknown_runs_ = !m.byte_fallback;
  unk_id_ = tokenizer.unk_id();
  if (m.model_type != kBpeModelType)
    reason_ = strformat(
        "model type %d is not BPE (a unigram model's Viterbi search sums float "
        "scores, so a cut is not provably exact)",
        m.model_type);
  else if (m.has_charsmap)
    reason_ = "normalisation rule '" + m.normalizer_name +
              "' rewrites character sequences (only 'identity' is character-local)";
  else if (m.treat_whitespace_as_suffix)
    reason_ = "treat_whitespace_as_suffix puts the dummy whitespace at the end";
  if (!reason_.empty()) return;

  for (const SpPiece& p : m.pieces) {
    if (p.type == PieceType::kByte) continue;  // "<0x0A>" names a byte; it is never merged into
    const auto* s = reinterpret_cast<const unsigned char*>(p.piece.data());
    const size_t n = p.piece.size();
    uint32_t prev = 0;
    for (size_t i = 0; i < n;) {
      uint32_t cp;
      const size_t len = utf8_decode(s, i, n, &cp);
      if (len == 0) break;  // not valid UTF-8: no valid text can ever match the rest
      if (i > 0) pairs_.insert(pair_key(prev, cp));
      prev = cp;
      i += len;
    }
  }
  if (m.add_dummy_prefix)
    continuation_ = std::make_unique<Tokenizer>(Tokenizer::from_serialized_proto(
        sp_model_with_dummy_prefix(proto, false, tokenizer.origin()),
        tokenizer.origin() + " (continuation segments)"));
}

SegmentedEncoder::SegmentedEncoder(SegmentedEncoder&&) noexcept = default;
SegmentedEncoder::~SegmentedEncoder() = default;

bool SegmentedEncoder::safe_cut(std::string_view text, size_t pos) const {
  if (!reason_.empty() || pos == 0 || pos >= text.size()) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  uint32_t a = 0, b = 0;
  if (utf8_is_continuation(s[pos]) || !char_before(s, pos, text.size(), &a) ||
      utf8_decode(s, pos, text.size(), &b) == 0)
    return false;
  if (remove_extra_whitespaces_ && (a == ' ' || a == kSpaceSymbol || b == ' ')) return false;
  if (pairs_.count(pair_key(a, b))) return false;  // a user-defined symbol, matched on raw text
  const uint32_t na = escape_whitespaces_ && a == ' ' ? kSpaceSymbol : a;
  const uint32_t nb = escape_whitespaces_ && b == ' ' ? kSpaceSymbol : b;
  return !pairs_.count(pair_key(na, nb));
}

size_t SegmentedEncoder::fallback_cut(std::string_view text, size_t begin, size_t limit) {
  const size_t nl = text.rfind('\n', limit - 1);
  if (nl != std::string_view::npos && nl >= begin + (limit - begin) / 2) return nl + 1;
  size_t cut = limit;
  while (cut > begin + 1 && utf8_is_continuation(static_cast<unsigned char>(text[cut]))) --cut;
  return cut;
}

std::vector<TextSegment> SegmentedEncoder::plan(std::string_view text,
                                                const SegmentOptions& options) const {
  LONGCTX_CHECK(options.target_bytes >= 1 && options.max_bytes >= options.target_bytes &&
                    options.max_bytes >= 8,
                "segment options: need 1 <= target bytes (%zu) <= max bytes (%zu), max >= 8",
                options.target_bytes, options.max_bytes);
  std::vector<TextSegment> out;
  const size_t n = text.size();
  size_t begin = 0;
  bool proven = true;
  while (n - begin > options.target_bytes) {
    size_t cut = 0;
    if (can_prove_cuts()) {
      const size_t hi = std::min(n, begin + options.max_bytes);
      for (size_t p = begin + options.target_bytes; p < hi && cut == 0; ++p)
        if (safe_cut(text, p)) cut = p;
      for (size_t p = begin + options.target_bytes - 1; p > begin && cut == 0; --p)
        if (safe_cut(text, p)) cut = p;
    }
    const bool safe = cut != 0;
    if (!safe) {
      if (n - begin <= options.max_bytes) break;  // the rest fits in one segment
      cut = fallback_cut(text, begin, begin + options.max_bytes);
    }
    out.push_back({begin, cut, proven});
    begin = cut;
    proven = safe;
  }
  out.push_back({begin, n, proven});
  return out;
}

std::vector<int32_t> SegmentedEncoder::encode_segment(std::string_view text,
                                                      const TextSegment& segment) const {
  LONGCTX_CHECK(segment.begin <= segment.end && segment.end <= text.size(),
                "segment [%zu, %zu) outside a text of %zu bytes", segment.begin, segment.end,
                text.size());
  const Tokenizer& tok = segment.begin > 0 && continuation_ ? *continuation_ : *tokenizer_;
  return tok.encode(text.substr(segment.begin, segment.end - segment.begin));
}

size_t SegmentedEncoder::join_skip(int32_t previous,
                                   const std::vector<int32_t>& segment_tokens) const {
  return join_unknown_runs_ && previous == unk_id_ && !segment_tokens.empty() &&
                 segment_tokens.front() == unk_id_
             ? 1
             : 0;
}

void SegmentedEncoder::append(std::vector<int32_t>& tokens,
                              const std::vector<int32_t>& segment_tokens) const {
  const size_t skip = join_skip(tokens.empty() ? -1 : tokens.back(), segment_tokens);
  tokens.insert(tokens.end(), segment_tokens.begin() + static_cast<std::ptrdiff_t>(skip),
                segment_tokens.end());
}

std::vector<int32_t> SegmentedEncoder::encode(std::string_view text,
                                              const SegmentOptions& options) const {
  std::vector<int32_t> tokens;
  for (const TextSegment& s : plan(text, options)) append(tokens, encode_segment(text, s));
  return tokens;
}

}  // namespace longctx::io
