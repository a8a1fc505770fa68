// Refusing runs that would not fit, before they start: an estimate of the peak memory of an
// evaluation (weights + forward workspace + per-token arrays) against a limit, by default
// the memory the system reports available plus what this process already holds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace longctx::eval {

struct MemoryItem {
  std::string what;
  size_t bytes = 0;
};

struct MemoryEstimate {
  std::vector<MemoryItem> items;
  void add(std::string what, size_t bytes) { items.push_back({std::move(what), bytes}); }
  size_t total() const;
  std::string describe() const;  // "2.31 GB (weights 0.50 GB + workspace at 32768 tokens ...)"
};

// MemAvailable of /proc/meminfo (capped by the cgroup's memory.max when set) plus this
// process's resident set; 0 when unknown.
size_t default_memory_limit();

// Throws Error "<what>: length L needs an estimated X GB (...), over the limit of Y GB
// (--max-memory)" when estimate.total() > limit (limit 0 = no check).
void check_memory(const MemoryEstimate& estimate, size_t limit, const std::string& what,
                  int64_t length);

std::string format_gb(size_t bytes);  // "2.31 GB", or "12.3 MB" below 0.1 GB

}  // namespace longctx::eval
