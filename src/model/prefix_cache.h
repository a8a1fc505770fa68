// PrefixCache: KV states of earlier prompts, so a new prompt that starts with the same
// tokens (ten questions about one long document) copies the cached rows instead of
// running the prefill again. Entries hold exact-size copies of a cache's first n rows and
// their tokens; any entry may serve the longest common prefix it shares with a request
// (not only whole entries). Bounded by a byte cap with least-recently-used eviction.
//
// Not thread-safe: one engine thread owns it. Entries belong to one model and position
// encoding (the engine that owns the cache); stored keys carry their RoPE frequencies, so a
// restored prefix is re-rotated if a length-dependent encoding needs it (rope_policy.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <vector>

#include "model/kv_cache.h"

namespace longctx::model {

class PrefixCache {
 public:
  // max_bytes = 0 disables the cache (store and restore do nothing).
  explicit PrefixCache(size_t max_bytes = 0) : max_bytes_(max_bytes) {}

  // Finds the entry sharing the longest common prefix with tokens (at least min_tokens of
  // it, and at most max_tokens), copies those rows into cache (replacing what it held)
  // and returns their count; 0 (cache untouched) when no entry qualifies.
  int64_t restore(std::span<const int32_t> tokens, KVCache& cache, int64_t max_tokens,
                  int64_t min_tokens = 1);
  // The length restore() would return, without copying.
  int64_t match(std::span<const int32_t> tokens, int64_t max_tokens) const;
  // Keeps a copy of cache's first tokens.size() rows (tokens = what they encode). Entries that
  // are prefixes of the new one are dropped (it serves them too); older entries are evicted
  // until the total fits max_bytes; a single entry larger than the cap is not stored.
  void store(std::span<const int32_t> tokens, const KVCache& cache);

  size_t bytes() const { return bytes_; }
  size_t max_bytes() const { return max_bytes_; }
  size_t entries() const { return entries_.size(); }
  int64_t hits() const { return hits_; }
  int64_t reused_tokens() const { return reused_tokens_; }
  int64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    KVCache kv;  // capacity == tokens.size()
  };
  std::list<Entry>::iterator best(std::span<const int32_t> tokens, int64_t max_tokens, int64_t* n);
  std::list<Entry> entries_;  // most recently used first
  size_t max_bytes_ = 0, bytes_ = 0;
  int64_t hits_ = 0, reused_tokens_ = 0, evictions_ = 0;
};

// Length of the common prefix of a and b.
int64_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

}  // namespace longctx::model
