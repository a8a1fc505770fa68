// /metrics: the server's counters in Prometheus' text exposition format (version 0.0.4).
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "serve/scheduler.h"

namespace longctx::serve {

// HTTP responses by status code, counted after each response is sent.
class HttpCounters {
 public:
  void count(int status);
  std::map<int, int64_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<int, int64_t> by_status_;
};

struct ServerInfo {
  std::string model;
  int64_t context = 0, slots = 0, queue_limit = 0;
};

std::string prometheus_text(const ServerInfo& info, const SchedulerStats& s,
                            const std::map<int, int64_t>& responses);

}  // namespace longctx::serve
