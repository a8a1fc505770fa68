#include "model/prefix_cache.h"

#include <algorithm>

#include "core/error.h"

namespace longctx::model {

int64_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

std::list<PrefixCache::Entry>::iterator PrefixCache::best(std::span<const int32_t> tokens,
                                                         int64_t max_tokens, int64_t* n) {
  auto found = entries_.end();
  *n = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const int64_t l = std::min(common_prefix(tokens, it->tokens), max_tokens);
    if (l > *n) {
      *n = l;
      found = it;
    }
  }
  return found;
}

int64_t PrefixCache::match(std::span<const int32_t> tokens, int64_t max_tokens) const {
  int64_t n = 0;
  for (const Entry& e : entries_) n = std::max(n, std::min(common_prefix(tokens, e.tokens), max_tokens));
  return n;
}

int64_t PrefixCache::restore(std::span<const int32_t> tokens, KVCache& cache, int64_t max_tokens,
                             int64_t min_tokens) {
  if (max_bytes_ == 0) return 0;
  int64_t n = 0;
  auto it = best(tokens, std::min(max_tokens, cache.capacity()), &n);
  if (it == entries_.end() || n < std::max<int64_t>(min_tokens, 1) || !cache.compatible_with(it->kv)) return 0;
  cache.copy_prefix_from(it->kv, n);
  entries_.splice(entries_.begin(), entries_, it);  // most recently used
  ++hits_;
  reused_tokens_ += n;
  return n;
}

void PrefixCache::store(std::span<const int32_t> tokens, const KVCache& cache) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (max_bytes_ == 0 || n == 0) return;
  LONGCTX_CHECK(n <= cache.position(), "PrefixCache::store: %lld tokens but the cache holds %lld",
                static_cast<long long>(n), static_cast<long long>(cache.position()));
  const size_t need = kv_cache_bytes(cache.config(), n, cache.types());
  if (need > max_bytes_) return;
  // Already covered by an entry that starts with these tokens: just mark it used.
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (static_cast<int64_t>(it->tokens.size()) >= n && common_prefix(tokens, it->tokens) == n) {
      entries_.splice(entries_.begin(), entries_, it);
      return;
    }
  // Entries that are prefixes of the new one add nothing once it is stored.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (common_prefix(tokens, it->tokens) == static_cast<int64_t>(it->tokens.size())) {
      bytes_ -= it->kv.bytes();
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  while (!entries_.empty() && bytes_ + need > max_bytes_) {
    bytes_ -= entries_.back().kv.bytes();
    entries_.pop_back();
    ++evictions_;
  }
  Entry e{std::vector<int32_t>(tokens.begin(), tokens.end()), KVCache(cache.config(), n, cache.types())};
  e.kv.copy_prefix_from(cache, n);
  bytes_ += e.kv.bytes();
  entries_.push_front(std::move(e));
}

}  // namespace longctx::model
