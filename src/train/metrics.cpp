#include "train/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/plot.h"
#include "io/mapped_file.h"

namespace longctx::train {

MetricsLog::MetricsLog(const std::string& run_dir, int64_t keep_through)
    : path_((std::filesystem::path(run_dir) / "metrics.jsonl").string()) {
  std::string kept;
  {
    std::ifstream in(path_);
    std::string text;
    while (std::getline(in, text)) {
      const nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
      // A line cut short by a kill is not JSON: it belongs to a step after the checkpoint.
      if (line.is_discarded() || !line.is_object() || !line.contains("step")) continue;
      if (line["step"].get<int64_t>() > keep_through) continue;
      kept += text + "\n";
      remember(line);
    }
  }
  io::write_file_atomic(path_, kept.data(), kept.size());
  file_ = std::fopen(path_.c_str(), "a");
  LONGCTX_CHECK(file_ != nullptr, "'%s': cannot open for writing", path_.c_str());
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::remember(const nlohmann::json& line) {
  const double step = line["step"].get<double>();
  if (line.contains("loss") && line["loss"].is_number())
    steps_.push_back(step), losses_.push_back(line["loss"].get<double>());
  if (line.contains("val_loss") && line["val_loss"].is_number())
    val_steps_.push_back(step), val_losses_.push_back(line["val_loss"].get<double>());
}

void MetricsLog::append(const nlohmann::json& line) {
  const std::string text = line.dump() + "\n";
  LONGCTX_CHECK(
      std::fwrite(text.data(), 1, text.size(), file_) == text.size() && std::fflush(file_) == 0,
      "'%s': write failed", path_.c_str());
  remember(line);
}

void MetricsLog::write_loss_svg(const std::string& path, const std::string& title) const {
  PlotSpec p;
  p.title = title;
  p.x.label = "optimizer step";
  p.y.label = "loss (nats per token)";
  PlotSeries train;
  train.name = "training loss", train.x = steps_, train.y = losses_;
  PlotSeries val;
  val.name = "validation loss", val.x = val_steps_, val.y = val_losses_, val.markers = true;
  p.series = {train, val};
  const std::string svg = render_svg(p);
  io::write_file_atomic(path, svg.data(), svg.size());
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  if (t < 60) return strformat("%lds", t);
  if (t < 3600) return strformat("%ldm%02lds", t / 60, t % 60);
  return strformat("%ldh%02ldm", t / 3600, (t / 60) % 60);
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

ProgressDisplay::ProgressDisplay(bool enabled)
    : enabled_(enabled), terminal_(enabled && ::isatty(STDERR_FILENO) != 0) {}

void ProgressDisplay::step(int64_t step, int64_t total, double loss, double lr, double tok_s,
                           double eta) {
  if (!enabled_) return;
  const std::string text = strformat("step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
                                     static_cast<long long>(step), static_cast<long long>(total),
                                     loss, lr, tok_s, format_duration(eta).c_str());
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    status_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

void ProgressDisplay::line(const std::string& text) {
  if (!enabled_) return;
  finish();
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

void ProgressDisplay::finish() {
  if (status_open_) std::fprintf(stderr, "\n");
  status_open_ = false;
}

}  // namespace longctx::train
