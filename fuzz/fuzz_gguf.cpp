// libFuzzer target: GGUF parsing, tensor conversion, the LLaMA configuration and
// the vocabulary -> SentencePiece tokenizer path. Any exception other than
// longctx::Error, any sanitizer report or crash is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_vocab.h"
#include "io/model_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace longctx::io;
  try {
    const GgufFile g = GgufFile::parse(data, size, "fuzz.gguf");
    std::vector<float> buf;
    for (const GgufTensorInfo& t : g.tensors()) {
      if (t.numel() > (1 << 20)) continue;
      buf.resize(static_cast<size_t>(t.numel()));
      try {
        g.tensor_to_f32(t, buf.data());
      } catch (const longctx::Error&) {
      }
    }
    try {
      model_config_from_gguf(g);
    } catch (const longctx::Error&) {
    }
    const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
    if (tokens && tokens->count() <= 4096) {
      const SpModel m = sp_model_from_gguf(g);
      const std::string proto = serialize_sp_model(m);
      parse_sp_model(proto, "fuzz");
      const Tokenizer tok = tokenizer_from_gguf(g);
      tok.decode(tok.encode("Hello world 123 \xc3\xa9"));
    }
  } catch (const longctx::Error&) {
  }
  return 0;
}
