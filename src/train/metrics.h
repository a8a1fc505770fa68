// Run metrics: RUN/metrics.jsonl (one JSON object per optimizer step, plus validation
// results), a loss-curve SVG refreshed at each checkpoint, and the progress display (a
// one-line status on a terminal, plain log lines otherwise).
#pragma once
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace longctx::train {

class MetricsLog {
 public:
  // Opens run_dir/metrics.jsonl. Lines of steps after keep_through (written after the
  // checkpoint a run resumes from) are dropped, so the file holds one curve.
  MetricsLog(const std::string& run_dir, int64_t keep_through);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends one line ({"step": ..., ...}) and flushes it.
  void append(const nlohmann::json& line);
  // RUN/loss.svg: training loss and validation loss against step.
  void write_loss_svg(const std::string& path, const std::string& title) const;

 private:
  std::string path_;
  FILE* file_ = nullptr;
  std::vector<double> steps_, losses_, val_steps_, val_losses_;
  void remember(const nlohmann::json& line);
};

class ProgressDisplay {
 public:
  explicit ProgressDisplay(bool enabled);  // disabled on ranks other than 0
  // Step line: "step 12/100 loss 3.2134 lr 2.0e-04 | 2512 tok/s | ETA 1m20s".
  void step(int64_t step, int64_t total, double loss, double lr, double tokens_per_s,
            double eta_seconds);
  // A line that stays (evaluation, checkpoint, messages).
  void line(const std::string& text);
  void finish();  // ends a status line

 private:
  bool enabled_, terminal_;
  bool status_open_ = false;
};

std::string format_duration(double seconds);  // "42s", "3m05s", "2h07m"

// User + system CPU seconds of this process so far (all threads). Per-step differences
// measure the work done even when other processes share the cores.
double process_cpu_seconds();

}  // namespace longctx::train
