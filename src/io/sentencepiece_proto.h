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
};

std::string serialize_sp_model(const SpModel& model);
// Parses pieces, trainer ids and normalizer flags; throws Error naming origin.
SpModel parse_sp_model(std::string_view bytes, const std::string& origin);

}  // namespace longctx::io
