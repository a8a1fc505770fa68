#include "eval/memory.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/buffer.h"
#include "core/error.h"

namespace longctx::eval {

size_t MemoryEstimate::total() const {
  size_t t = 0;
  for (const MemoryItem& i : items) t += i.bytes;
  return t;
}

std::string format_gb(size_t bytes) {
  const double b = static_cast<double>(bytes);
  return b >= 1e8 ? strformat("%.2f GB", b / 1e9) : strformat("%.1f MB", b / 1e6);
}

std::string MemoryEstimate::describe() const {
  std::string s = format_gb(total()) + " (";
  for (size_t i = 0; i < items.size(); ++i)
    s += (i ? " + " : "") + items[i].what + " " + format_gb(items[i].bytes);
  return s + ")";
}

namespace {
size_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

size_t cgroup_limit() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string v;
  if (!(in >> v) || v == "max") return 0;
  return static_cast<size_t>(std::stoull(v));
}
}  // namespace

size_t default_memory_limit() {
  size_t avail = meminfo_available();
  if (avail == 0) return 0;
  const size_t cg = cgroup_limit();
  if (cg > 0 && cg < avail) avail = cg;
  return avail + current_rss_bytes();
}

void check_memory(const MemoryEstimate& estimate, size_t limit, const std::string& what,
                  int64_t length) {
  if (limit == 0 || estimate.total() <= limit) return;
  throw_error("%s: length %lld needs an estimated %s, over the limit of %s (--max-memory; "
              "default: memory available now); drop the length or raise the limit",
              what.c_str(), static_cast<long long>(length), estimate.describe().c_str(),
              format_gb(limit).c_str());
}

}  // namespace longctx::eval
