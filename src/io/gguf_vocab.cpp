#include "io/gguf_vocab.h"

#include "core/error.h"

namespace longctx::io {

namespace {

int32_t token_id(const GgufFile& g, const char* key, int64_t fallback, size_t n) {
  const int64_t id = g.get_int_or(key, fallback);
  if (id < -1 || id >= static_cast<int64_t>(n))
    throw_error("GGUF '%s': %s = %lld is outside the vocabulary of %zu tokens",
                g.origin().c_str(), key, static_cast<long long>(id), n);
  return static_cast<int32_t>(id);
}

bool get_bool_or(const GgufFile& g, const char* key, bool fallback) {
  const GgufValue* v = g.find(key);
  if (!v) return fallback;
  if (v->is_array || v->type != GgufType::kBool)
    throw_error("GGUF '%s': key '%s' must be a bool", g.origin().c_str(), key);
  return v->ints[0] != 0;
}

}  // namespace

SpModel sp_model_from_gguf(const GgufFile& g) {
  const std::string& o = g.origin();
  const std::string model = g.find("tokenizer.ggml.model") ? g.get_string("tokenizer.ggml.model")
                                                            : std::string("");
  if (model != "llama")
    throw_error("GGUF '%s': tokenizer.ggml.model is '%s'; only SentencePiece vocabularies "
                "('llama') can be turned into a tokenizer", o.c_str(), model.c_str());
  const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array || tokens->type != GgufType::kString || tokens->count() == 0)
    throw_error("GGUF '%s': tokenizer.ggml.tokens must be a non-empty array of strings",
                o.c_str());
  const size_t n = tokens->count();
  const GgufValue* scores = g.find("tokenizer.ggml.scores");
  if (scores && (!scores->is_array || scores->floats.size() != n))
    throw_error("GGUF '%s': tokenizer.ggml.scores must be an array of %zu floats", o.c_str(), n);
  const GgufValue* types = g.find("tokenizer.ggml.token_type");
  if (types && (!types->is_array || types->ints.size() != n))
    throw_error("GGUF '%s': tokenizer.ggml.token_type must be an array of %zu integers",
                o.c_str(), n);
  SpModel m;
  m.pieces.resize(n);
  bool any_byte = false;
  for (size_t i = 0; i < n; ++i) {
    SpPiece& p = m.pieces[i];
    p.piece = tokens->strings[i];
    p.score = scores ? static_cast<float>(scores->floats[i]) : 0.0f;
    const int64_t t = types ? types->ints[i] : 1;
    if (t < 1 || t > 6)
      throw_error("GGUF '%s': tokenizer.ggml.token_type[%zu] = %lld (1 to 6 allowed)", o.c_str(),
                  i, static_cast<long long>(t));
    p.type = static_cast<PieceType>(t);
    any_byte |= p.type == PieceType::kByte;
  }
  m.model_type = 2;  // BPE
  m.byte_fallback = any_byte;
  m.unk_id = token_id(g, "tokenizer.ggml.unknown_token_id", 0, n);
  m.bos_id = token_id(g, "tokenizer.ggml.bos_token_id", 1, n);
  m.eos_id = token_id(g, "tokenizer.ggml.eos_token_id", 2, n);
  // A padding id that points at unk/bos/eos (stories260K says 0) is not a separate piece.
  const int32_t pad = token_id(g, "tokenizer.ggml.padding_token_id", -1, n);
  m.pad_id = pad >= 0 && pad != m.unk_id && pad != m.bos_id && pad != m.eos_id &&
                     m.pieces[pad].type == PieceType::kControl
                 ? pad
                 : -1;
  if (m.unk_id < 0 || m.pieces[m.unk_id].type != PieceType::kUnknown)
    throw_error("GGUF '%s': the unknown token (id %d) is not of type UNKNOWN", o.c_str(),
                m.unk_id);
  m.add_dummy_prefix = get_bool_or(g, "tokenizer.ggml.add_space_prefix", true);
  m.remove_extra_whitespaces = get_bool_or(g, "tokenizer.ggml.remove_extra_whitespaces", false);
  return m;
}

Tokenizer tokenizer_from_gguf(const GgufFile& g) {
  return Tokenizer::from_serialized_proto(serialize_sp_model(sp_model_from_gguf(g)),
                                          g.origin() + " (GGUF vocabulary)");
}

void append_vocab_metadata(const Tokenizer& tok, GgufMetadata& md) {
  const SpModel m = parse_sp_model(tok.serialized_proto(), tok.origin());
  if (m.model_type != 2)
    throw_error("tokenizer '%s': only BPE SentencePiece models map to GGUF's 'llama' vocabulary "
                "(model type %d)", tok.origin().c_str(), m.model_type);
  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<int64_t> types;
  for (const SpPiece& p : m.pieces) {
    tokens.push_back(p.piece);
    scores.push_back(p.score);
    types.push_back(static_cast<int64_t>(p.type));
  }
  md.emplace_back("tokenizer.ggml.model", GgufValue::string("llama"));
  md.emplace_back("tokenizer.ggml.tokens", GgufValue::array_string(std::move(tokens)));
  md.emplace_back("tokenizer.ggml.scores", GgufValue::array_float(GgufType::kF32, scores));
  md.emplace_back("tokenizer.ggml.token_type", GgufValue::array_int(GgufType::kI32, types));
  auto add_id = [&](const char* key, int32_t id) {
    if (id >= 0) md.emplace_back(key, GgufValue::scalar_int(GgufType::kU32, id));
  };
  add_id("tokenizer.ggml.bos_token_id", tok.bos_id());
  add_id("tokenizer.ggml.eos_token_id", tok.eos_id());
  add_id("tokenizer.ggml.unknown_token_id", tok.unk_id());
  add_id("tokenizer.ggml.padding_token_id", tok.pad_id());
  md.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::scalar_int(GgufType::kBool, 1));
  md.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::scalar_int(GgufType::kBool, 0));
  md.emplace_back("tokenizer.ggml.add_space_prefix",
                  GgufValue::scalar_int(GgufType::kBool, m.add_dummy_prefix ? 1 : 0));
  if (m.remove_extra_whitespaces)
    md.emplace_back("tokenizer.ggml.remove_extra_whitespaces",
                    GgufValue::scalar_int(GgufType::kBool, 1));
}

}  // namespace longctx::io
