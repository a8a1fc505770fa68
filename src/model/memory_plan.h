// The memory an inference session will need, computed before anything large is allocated:
// weights (mapped from the file or held in memory), KV caches at the requested context for
// every parallel sequence, the prefix cache's cap, and the forward scratch. A plan that
// does not fit the memory available is refused up front with the numbers, instead of the
// process being killed half-way through a long prompt.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/kv_cache.h"

namespace longctx::model {

struct MemoryPlanRequest {
  ModelConfig config;
  size_t weight_bytes = 0;     // matrices and norms as stored for inference
  bool weights_mapped = false; // in place in the page cache of a mapped file
  int64_t context = 0;         // KV cache capacity per sequence (tokens)
  int64_t sequences = 1;       // caches side by side (server slots)
  KvTypes kv_types;
  size_t prefix_cache_bytes = 0;  // cap of the prefix cache
  int64_t chunk_rows = 512;       // rows per forward round (workspace size)
  int64_t logits_rows = 1;        // rows of logits held at once (prompt logprobs need a chunk)
};

struct MemoryPlan {
  size_t weights = 0, kv_cache = 0, prefix_cache = 0, scratch = 0, total = 0;
  size_t available = 0;  // what the system offers (see available_memory_bytes)
  MemoryPlanRequest request;
  // One line: "memory plan: weights 476 MB (mapped), KV cache ... total ... of ... available".
  std::string summary() const;
  bool fits() const { return total <= available; }
};

// available: bytes the plan may use; 0 = available_memory_bytes().
MemoryPlan plan_memory(const MemoryPlanRequest& request, size_t available = 0);
// Throws Error stating every part, the total and what is available, with what to lower.
void check_memory_plan(const MemoryPlan& plan);

// MemAvailable from /proc/meminfo, capped by the cgroup's memory.max minus memory.current
// when a limit is set; plus this process's resident memory (already counted as used).
size_t available_memory_bytes();

// "476 MB", "1.50 GB" (powers of 1000, as the docs write sizes).
std::string format_bytes(size_t bytes);

}  // namespace longctx::model
