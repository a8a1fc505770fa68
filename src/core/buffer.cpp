#include "core/buffer.h"

#include <cstdio>
#include <cstring>

namespace longctx {

void* aligned_alloc_bytes(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (!p) throw_error("out of memory allocating %zu bytes", bytes);
  return p;
}

Arena::Arena(size_t capacity_bytes)
    : capacity_(capacity_bytes),
      block_(static_cast<uint8_t*>(aligned_alloc_bytes(capacity_bytes))) {}

void* Arena::alloc_bytes(size_t bytes) {
  const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (used_ + rounded > capacity_)
    throw_error("arena exhausted: %zu bytes requested, %zu of %zu in use", bytes, used_, capacity_);
  void* p = block_.get() + used_;
  used_ += rounded;
  if (used_ > peak_) peak_ = used_;
  return p;
}

static size_t read_status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  const size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, key, klen) == 0) {
      kb = std::strtoull(line + klen, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}

size_t peak_rss_bytes() { return read_status_kb("VmHWM:"); }
size_t current_rss_bytes() { return read_status_kb("VmRSS:"); }

}  // namespace longctx
