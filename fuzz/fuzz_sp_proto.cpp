// libFuzzer target: the hand-written SentencePiece ModelProto reader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/sentencepiece_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    longctx::io::parse_sp_model(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const longctx::Error&) {
  }
  return 0;
}
