// Test-only: a SentencePiece BPE tokenizer of any size built in memory (no training, no shared
// data), for checks that depend on the vocabulary size only, e.g. a tokenizer with more pieces
// than a model has embedding rows.
#pragma once
#include <string>

#include "io/sentencepiece_proto.h"
#include "io/tokenizer.h"

namespace longctx::test_fixtures {

// <unk>, <s>, </s>, then "▁w3", "▁w4", ... up to `pieces` in all.
inline std::string tiny_tokenizer_proto(int pieces) {
  io::SpModel m;
  m.byte_fallback = false;
  m.pieces.push_back({"<unk>", 0.0f, io::PieceType::kUnknown});
  m.pieces.push_back({"<s>", 0.0f, io::PieceType::kControl});
  m.pieces.push_back({"</s>", 0.0f, io::PieceType::kControl});
  for (int i = 3; i < pieces; ++i)
    m.pieces.push_back(
        {"\xE2\x96\x81w" + std::to_string(i), -static_cast<float>(i), io::PieceType::kNormal});
  return io::serialize_sp_model(m);
}

inline io::Tokenizer tiny_tokenizer(int pieces) {
  return io::Tokenizer::from_serialized_proto(tiny_tokenizer_proto(pieces),
                                              "tiny-" + std::to_string(pieces) + ".model");
}

}  // namespace longctx::test_fixtures
