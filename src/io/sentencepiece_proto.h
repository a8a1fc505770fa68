// A SentencePiece ModelProto written and read by hand (protobuf wire format), so
// a GGUF vocabulary can become a working SentencePiece tokenizer without the
// library's private protobuf headers (Debian ships none). Only the fields
// LLaMA-style BPE models use are written; unknown fields are skipped on read.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace longctx::io {

// SentencePiece piece types; GGUF's tokenizer.ggml.token_type uses the same numbers.
enum class PieceType : int32_t {
  kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

struct SpPiece {
  std::string piece;
  float score = 0.0f;
  PieceType type = PieceType::kNormal;
};

struct SpModel {
  std::vector<SpPiece> pieces;
  int32_t model_type = 2;  // 1 unigram, 2 BPE (LLaMA), 3 word, 4 char
  bool byte_fallback = true;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // -1: none
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
  // Read only (the writer emits the identity normaliser LLaMA uses): what the encoder's
  // normaliser does, so callers can reason about how a text may be cut (io/segmented_encoder.h).
  std::string normalizer_name = "identity";
  bool has_charsmap = false;             // a non-empty precompiled_charsmap (rewrites characters)
  bool escape_whitespaces = true;        // ' ' becomes U+2581
  bool treat_whitespace_as_suffix = false;
};

std::string serialize_sp_model(const SpModel& model);
// Parses pieces, trainer ids and normalizer flags; throws Error naming origin.
SpModel parse_sp_model(std::string_view bytes, const std::string& origin);

// The same serialized ModelProto with NormalizerSpec.add_dummy_prefix set to `value`; every
// other field is kept byte for byte. Throws Error naming origin on a malformed proto.
std::string sp_model_with_dummy_prefix(std::string_view bytes, bool value,
                                       const std::string& origin);

}  // namespace longctx::io
