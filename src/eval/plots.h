// Plot pieces shared by the evaluations' SVG outputs (core/plot.h draws them).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/plot.h"
#include "eval/stats.h"

namespace longctx::eval {

// A series through the bucket midpoints: x = (start + end) / 2, y = mean * scale.
PlotSeries bucket_series(const std::string& name, const std::vector<Bucket>& buckets,
                         double scale = 1.0);

// Adds a dashed grey vertical line at x = trained (spanning the data's y range) named
// "trained length", when trained lies inside [x_lo, x_hi] and the plot has data.
void add_trained_marker(PlotSpec& plot, int64_t trained, double x_lo, double x_hi);

// One row's results against context length, with markers: a point (x.length, value(x)) for
// each x of `at` (KldAtLength, PplAtLength, ScoreCell: anything with an integer `length`).
template <class At, class Value>
PlotSeries length_series(const std::string& name, const std::vector<At>& at, Value value) {
  PlotSeries s;
  s.name = name;
  s.markers = true;
  for (const At& x : at) {
    s.x.push_back(static_cast<double>(x.length));
    s.y.push_back(value(x));
  }
  return s;
}

// A plot with x = context length (log scale, tokens).
PlotSpec length_plot(const std::string& title, const std::string& y_label, bool y_log);

}  // namespace longctx::eval
