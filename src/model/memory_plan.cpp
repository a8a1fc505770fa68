#include "model/memory_plan.h"

#include <omp.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/buffer.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "model/inference_workspace.h"

namespace longctx::model {

std::string format_bytes(size_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return strformat("%.2f GB", b / 1e9);
  if (b >= 1e6) return strformat("%.1f MB", b / 1e6);
  if (b >= 1e3) return strformat("%.1f kB", b / 1e3);
  return strformat("%zu B", bytes);
}

namespace {

// First number on the line of /proc/meminfo starting with key (kB), or 0.
size_t meminfo_kb(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      std::istringstream s(line.substr(key.size()));
      size_t kb = 0;
      s >> kb;
      return kb;
    }
  return 0;
}

// A cgroup v2 file holding a number ("max" = no limit -> max size_t).
size_t cgroup_value(const std::string& name) {
  std::ifstream in("/sys/fs/cgroup/" + name);
  std::string v;
  if (!(in >> v) || v == "max") return std::numeric_limits<size_t>::max();
  return static_cast<size_t>(std::stoull(v));
}

}  // namespace

size_t available_memory_bytes() {
  size_t avail = meminfo_kb("MemAvailable:") * 1024;
  const size_t limit = cgroup_value("memory.max");
  if (limit != std::numeric_limits<size_t>::max()) {
    const size_t used = cgroup_value("memory.current");
    const size_t room = used < limit ? limit - used : 0;
    avail = std::min(avail, room);
  }
  return avail + current_rss_bytes();
}

MemoryPlan plan_memory(const MemoryPlanRequest& r, size_t available) {
  LONGCTX_CHECK(r.context > 0 && r.sequences > 0 && r.chunk_rows > 0,
                "memory plan: context (%lld), sequences (%lld) and chunk rows (%lld) must be positive",
                static_cast<long long>(r.context), static_cast<long long>(r.sequences),
                static_cast<long long>(r.chunk_rows));
  MemoryPlan p;
  p.request = r;
  p.weights = r.weight_bytes;
  p.kv_cache = kv_cache_bytes(r.config, r.context, r.kv_types) * static_cast<size_t>(r.sequences);
  p.prefix_cache = r.prefix_cache_bytes;
  p.scratch = InferenceWorkspace::bytes_for(r.config, r.chunk_rows) +
              static_cast<size_t>(r.logits_rows * r.config.vocab_size) * sizeof(float) * static_cast<size_t>(r.sequences) +
              InferenceWorkspace::rope_bytes_for(r.config, r.context, r.chunk_rows, r.sequences,
                                                 r.config.rope.kind == rope::RopeKind::kXpos);
  // Transient, never alive together: the prefill attention's packed keys and values, and
  // the matrix products' packed blocks (the widest product of a layer, or the logits').
  const ModelConfig& c = r.config;
  const int64_t D = c.resolved_head_dim();
  const int64_t widest = std::max({(c.n_heads + 2 * c.n_kv_heads) * D, 2 * c.ffn_dim, c.dim,
                                   r.logits_rows > 1 ? c.vocab_size : int64_t{0}});
  p.scratch += std::max(InferenceWorkspace::attention_pack_bytes_for(c, r.chunk_rows, r.context),
                        kernels::gemm_scratch_bytes(r.chunk_rows, widest, std::max(c.dim, c.ffn_dim),
                                                    omp_get_max_threads()));
  p.total = p.weights + p.kv_cache + p.prefix_cache + p.scratch;
  p.available = available ? available : available_memory_bytes();
  return p;
}

std::string MemoryPlan::summary() const {
  const MemoryPlanRequest& r = request;
  return strformat("memory plan: weights %s (%s), KV cache %s (%lld tokens x %lld sequence%s, %s), "
                   "prefix cache up to %s, scratch %s; total %s of %s available",
                   format_bytes(weights).c_str(), r.weights_mapped ? "mapped from the file" : "in memory",
                   format_bytes(kv_cache).c_str(), static_cast<long long>(r.context),
                   static_cast<long long>(r.sequences), r.sequences == 1 ? "" : "s",
                   format_kv_types(r.kv_types).c_str(), format_bytes(prefix_cache).c_str(),
                   format_bytes(scratch).c_str(), format_bytes(total).c_str(),
                   format_bytes(available).c_str());
}

void check_memory_plan(const MemoryPlan& p) {
  if (p.fits()) return;
  throw_error("not enough memory for --ctx %lld: %s. Lower --ctx or --parallel, store the cache "
              "in q8_0 (--kv-type q8_0) or lower --prefix-cache-mb",
              static_cast<long long>(p.request.context), p.summary().c_str());
}

}  // namespace longctx::model
