// GGUF vocabulary (tokenizer.ggml.*) <-> SentencePiece tokenizer. A LLaMA GGUF
// ("llama" tokenizer model) carries every piece, score and piece type of the
// SentencePiece BPE model it came from, so rebuilding the ModelProto gives a
// tokenizer identical to the original .model file.
#pragma once
#include "io/gguf.h"
#include "io/sentencepiece_proto.h"
#include "io/tokenizer.h"

namespace longctx::io {

// Throws Error naming the file and key (missing tokens, wrong lengths, ids out of
// range, a tokenizer model other than "llama").
SpModel sp_model_from_gguf(const GgufFile& gguf);
Tokenizer tokenizer_from_gguf(const GgufFile& gguf);

// Appends tokenizer.ggml.* keys describing tok (model "llama", tokens, scores,
// token types, bos/eos/unk/pad ids, add_bos_token, add_space_prefix).
void append_vocab_metadata(const Tokenizer& tok, GgufMetadata& md);

}  // namespace longctx::io
