// libFuzzer target: the safetensors header parser and every tensor's byte range.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto h = longctx::io::parse_safetensors(data, size, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const auto& e : h.entries)
      if (e.end > e.begin) sink = sink ^ e.data[0] ^ e.data[e.end - e.begin - 1];
  } catch (const longctx::Error&) {
  }
  return 0;
}
