// Aligned owning buffers and a bump arena for activations.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace longctx {

constexpr size_t kAlignment = 64;  // cache line, and enough for any SIMD width

void* aligned_alloc_bytes(size_t bytes);  // throws Error when memory cannot be had
struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// A fixed-size aligned array of T, zero-initialised.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t n) : n_(n), p_(static_cast<T*>(aligned_alloc_bytes(n * sizeof(T)))) {
    if (n) std::memset(static_cast<void*>(p_.get()), 0, n * sizeof(T));
  }
  T* data() { return p_.get(); }
  const T* data() const { return p_.get(); }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_.get()[i]; }
  const T& operator[](size_t i) const { return p_.get()[i]; }
  void zero() {
    if (n_) std::memset(static_cast<void*>(p_.get()), 0, n_ * sizeof(T));
  }

 private:
  size_t n_ = 0;
  std::unique_ptr<T, AlignedFree> p_;
};

// Bump allocator over one aligned block: allocations are released all at once
// by reset(), or back to a mark. Used for per-step activations and scratch.
class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t capacity_bytes);
  template <class T>
  T* alloc(size_t n) {
    return static_cast<T*>(alloc_bytes(n * sizeof(T)));
  }
  void* alloc_bytes(size_t bytes);  // throws Error naming sizes on exhaustion
  size_t mark() const { return used_; }
  void reset(size_t mark = 0) { used_ = mark; }
  size_t used() const { return used_; }
  size_t peak() const { return peak_; }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_ = 0, used_ = 0, peak_ = 0;
  std::unique_ptr<uint8_t, AlignedFree> block_;
};

// Peak resident set size of this process in bytes (from /proc/self/status VmHWM).
size_t peak_rss_bytes();
size_t current_rss_bytes();

}  // namespace longctx
