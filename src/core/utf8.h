// UTF-8 decoding as RFC 3629 defines it: no overlong forms, no surrogates, nothing above
// U+10FFFF. Used where text is cleaned (data/) and where it is cut for a tokenizer (io/).
#pragma once
#include <cstddef>
#include <cstdint>

namespace longctx {

// Length in bytes of the valid UTF-8 sequence starting at s[i] (i < n), with its code point
// in *cp; 0 when the bytes there are not a valid sequence (*cp is then unspecified).
inline size_t utf8_decode(const unsigned char* s, size_t i, size_t n, uint32_t* cp) {
  const unsigned char c = s[i];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t min;
  uint32_t v;
  if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; v = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; v = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; v = c & 0x07; }
  else return 0;
  if (i + len > n) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((s[i + k] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i + k] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// True when byte c continues a multi-byte sequence (10xxxxxx), i.e. no character starts there.
inline bool utf8_is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace longctx
