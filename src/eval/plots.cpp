#include "eval/plots.h"

#include <algorithm>
#include <cmath>

namespace longctx::eval {

PlotSeries bucket_series(const std::string& name, const std::vector<Bucket>& buckets, double scale) {
  PlotSeries s;
  s.name = name;
  for (const Bucket& b : buckets) {
    s.x.push_back(0.5 * static_cast<double>(b.start + b.end));
    s.y.push_back(b.mean * scale);
  }
  return s;
}

void add_trained_marker(PlotSpec& plot, int64_t trained, double x_lo, double x_hi) {
  const double x = static_cast<double>(trained);
  if (trained <= 0 || x < x_lo || x > x_hi) return;
  double lo = INFINITY, hi = -INFINITY;
  for (const PlotSeries& s : plot.series)
    for (const double v : s.y)
      if (std::isfinite(v) && (!plot.y.log || v > 0)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) return;
  PlotSeries m;
  m.name = "trained length";
  m.x = {x, x};
  m.y = {lo, hi};
  m.color = "#888888";
  m.dashed = true;
  plot.series.push_back(std::move(m));
}

PlotSpec length_plot(const std::string& title, const std::string& y_label, bool y_log) {
  PlotSpec p;
  p.title = title;
  p.x.label = "context length (tokens)";
  p.x.log = true;
  p.y.label = y_label;
  p.y.log = y_log;
  return p;
}

}  // namespace longctx::eval
