#include "io/sentencepiece_proto.h"

#include <cstring>

#include "core/error.h"

namespace longctx::io {

namespace {

// Field numbers from sentencepiece_model.proto.
constexpr int kModelPieces = 1, kModelTrainer = 2, kModelNormalizer = 3;
constexpr int kPiecePiece = 1, kPieceScore = 2, kPieceType = 3;
constexpr int kTrainerModelType = 3, kTrainerVocabSize = 4, kTrainerByteFallback = 35,
              kTrainerUnkId = 40, kTrainerBosId = 41, kTrainerEosId = 42, kTrainerPadId = 43,
              kTrainerUnkPiece = 45, kTrainerBosPiece = 46, kTrainerEosPiece = 47,
              kTrainerPadPiece = 48, kTrainerWhitespaceSuffix = 24;
constexpr int kNormName = 1, kNormCharsmap = 2, kNormAddDummyPrefix = 3, kNormRemoveExtraWs = 4,
              kNormEscapeWs = 5;

enum Wire { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, Wire w) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | w);
}
// int32 fields are sign-extended to 64 bits on the wire (so -1 takes 10 bytes).
void put_int(std::string& out, int field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));
}
void put_bytes(std::string& out, int field, std::string_view s) {
  put_key(out, field, kLen);
  put_varint(out, s.size());
  out.append(s);
}
void put_float(std::string& out, int field, float f) {
  put_key(out, field, kFixed32);
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
}

class Reader {
 public:
  Reader(std::string_view b, const std::string& origin) : b_(b), origin_(origin) {}
  bool done() const { return pos_ >= b_.size(); }
  size_t pos() const { return pos_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) fail("truncated varint");
      const auto c = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (c < 0x80) return v;
    }
    fail("varint longer than 10 bytes");
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > b_.size() - pos_) fail("length-delimited field runs past the end");
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  float fixed32() {
    if (b_.size() - pos_ < 4) fail("truncated fixed32");
    float f;
    std::memcpy(&f, b_.data() + pos_, 4);
    pos_ += 4;
    return f;
  }
  void skip(Wire w) {
    switch (w) {
      case kVarint: varint(); return;
      case kLen: bytes(); return;
      case kFixed32: fixed32(); return;
      case kFixed64:
        if (b_.size() - pos_ < 8) fail("truncated fixed64");
        pos_ += 8;
        return;
    }
    fail("unsupported wire type");
  }
  [[noreturn]] void fail(const char* what) const {
    throw_error("SentencePiece model '%s': %s at byte %zu", origin_.c_str(), what, pos_);
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
  const std::string& origin_;
};

}  // namespace

std::string serialize_sp_model(const SpModel& m) {
  std::string out;
  for (const SpPiece& p : m.pieces) {
    std::string sub;
    put_bytes(sub, kPiecePiece, p.piece);
    put_float(sub, kPieceScore, p.score);
    put_int(sub, kPieceType, static_cast<int32_t>(p.type));
    put_bytes(out, kModelPieces, sub);
  }
  auto piece_of = [&](int32_t id) -> std::string {
    return id >= 0 && static_cast<size_t>(id) < m.pieces.size() ? m.pieces[id].piece : "";
  };
  std::string trainer;
  put_int(trainer, kTrainerModelType, m.model_type);
  put_int(trainer, kTrainerVocabSize, static_cast<int64_t>(m.pieces.size()));
  put_int(trainer, kTrainerByteFallback, m.byte_fallback ? 1 : 0);
  put_int(trainer, kTrainerUnkId, m.unk_id);
  put_int(trainer, kTrainerBosId, m.bos_id);
  put_int(trainer, kTrainerEosId, m.eos_id);
  put_int(trainer, kTrainerPadId, m.pad_id);
  // The library resolves bos/eos/pad ids through these piece strings.
  if (m.unk_id >= 0) put_bytes(trainer, kTrainerUnkPiece, piece_of(m.unk_id));
  if (m.bos_id >= 0) put_bytes(trainer, kTrainerBosPiece, piece_of(m.bos_id));
  if (m.eos_id >= 0) put_bytes(trainer, kTrainerEosPiece, piece_of(m.eos_id));
  if (m.pad_id >= 0) put_bytes(trainer, kTrainerPadPiece, piece_of(m.pad_id));
  put_bytes(out, kModelTrainer, trainer);
  std::string norm;
  put_bytes(norm, kNormName, "identity");
  put_int(norm, kNormAddDummyPrefix, m.add_dummy_prefix ? 1 : 0);
  put_int(norm, kNormRemoveExtraWs, m.remove_extra_whitespaces ? 1 : 0);
  put_int(norm, kNormEscapeWs, 1);
  put_bytes(out, kModelNormalizer, norm);
  return out;
}

SpModel parse_sp_model(std::string_view bytes, const std::string& origin) {
  SpModel m;
  // Defaults of sentencepiece_model.proto where the file omits a field.
  m.byte_fallback = false;
  m.model_type = 1;
  m.add_dummy_prefix = true;
  m.remove_extra_whitespaces = true;
  Reader r(bytes, origin);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3);
    const auto wire = static_cast<Wire>(key & 7);
    if (field == kModelPieces && wire == kLen) {
      Reader pr(r.bytes(), origin);
      SpPiece p;
      while (!pr.done()) {
        const uint64_t k = pr.varint();
        const int f = static_cast<int>(k >> 3);
        const auto w = static_cast<Wire>(k & 7);
        if (f == kPiecePiece && w == kLen) p.piece = std::string(pr.bytes());
        else if (f == kPieceScore && w == kFixed32) p.score = pr.fixed32();
        else if (f == kPieceType && w == kVarint) p.type = static_cast<PieceType>(pr.varint());
        else pr.skip(w);
      }
      m.pieces.push_back(std::move(p));
    } else if (field == kModelTrainer && wire == kLen) {
      Reader tr(r.bytes(), origin);
      while (!tr.done()) {
        const uint64_t k = tr.varint();
        const int f = static_cast<int>(k >> 3);
        const auto w = static_cast<Wire>(k & 7);
        if (w != kVarint) {
          tr.skip(w);
          continue;
        }
        const auto v = static_cast<int64_t>(tr.varint());
        if (f == kTrainerModelType) m.model_type = static_cast<int32_t>(v);
        else if (f == kTrainerByteFallback) m.byte_fallback = v != 0;
        else if (f == kTrainerUnkId) m.unk_id = static_cast<int32_t>(v);
        else if (f == kTrainerBosId) m.bos_id = static_cast<int32_t>(v);
        else if (f == kTrainerEosId) m.eos_id = static_cast<int32_t>(v);
        else if (f == kTrainerPadId) m.pad_id = static_cast<int32_t>(v);
        else if (f == kTrainerWhitespaceSuffix) m.treat_whitespace_as_suffix = v != 0;
      }
    } else if (field == kModelNormalizer && wire == kLen) {
      Reader nr(r.bytes(), origin);
      while (!nr.done()) {
        const uint64_t k = nr.varint();
        const int f = static_cast<int>(k >> 3);
        const auto w = static_cast<Wire>(k & 7);
        if (w == kLen && f == kNormName) {
          m.normalizer_name = std::string(nr.bytes());
          continue;
        }
        if (w == kLen && f == kNormCharsmap) {
          m.has_charsmap = !nr.bytes().empty();
          continue;
        }
        if (w != kVarint) {
          nr.skip(w);
          continue;
        }
        const uint64_t v = nr.varint();
        if (f == kNormAddDummyPrefix) m.add_dummy_prefix = v != 0;
        else if (f == kNormRemoveExtraWs) m.remove_extra_whitespaces = v != 0;
        else if (f == kNormEscapeWs) m.escape_whitespaces = v != 0;
      }
    } else {
      r.skip(wire);
    }
  }
  return m;
}

std::string sp_model_with_dummy_prefix(std::string_view bytes, bool value,
                                       const std::string& origin) {
  // Top-level fields are copied verbatim; the normalizer's fields too, except add_dummy_prefix,
  // which is written once at the end of the (single) normalizer message.
  std::string out, norm;
  Reader r(bytes, origin);
  while (!r.done()) {
    const size_t start = r.pos();
    const uint64_t key = r.varint();
    const int field = static_cast<int>(key >> 3);
    const auto wire = static_cast<Wire>(key & 7);
    if (field != kModelNormalizer || wire != kLen) {
      r.skip(wire);
      out.append(bytes.substr(start, r.pos() - start));
      continue;
    }
    // Protobuf merges repeated occurrences of a message field: gather them all into one.
    const std::string_view sub = r.bytes();
    Reader nr(sub, origin);
    while (!nr.done()) {
      const size_t s = nr.pos();
      const uint64_t k = nr.varint();
      const auto w = static_cast<Wire>(k & 7);
      nr.skip(w);
      if (static_cast<int>(k >> 3) != kNormAddDummyPrefix) norm.append(sub.substr(s, nr.pos() - s));
    }
  }
  put_int(norm, kNormAddDummyPrefix, value ? 1 : 0);
  put_bytes(out, kModelNormalizer, norm);
  return out;
}

}  // namespace longctx::io
