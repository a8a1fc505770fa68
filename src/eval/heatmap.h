// A small SVG heatmap writer (the needle grid: context length x depth), beside
// core/plot.h's line plots: one cell per (column, row) coloured from red (low) through
// yellow to green (high) on a fixed value range, the value written in the cell, axis
// labels and a colour bar. Missing values (NaN) are drawn grey.
#pragma once
#include <string>
#include <vector>

namespace longctx::eval {

struct HeatmapSpec {
  std::string title, subtitle;
  std::string x_label, y_label;               // include units
  std::vector<std::string> columns, rows;     // tick labels (x left to right, y top to bottom)
  std::vector<double> values;                 // (rows, columns), row-major
  double min = 0, max = 100;                  // colour range
  std::string value_format = "%.0f";          // printf format for the cell text
};

// The SVG document. Throws Error when values.size() != rows * columns or min >= max.
std::string render_heatmap_svg(const HeatmapSpec& spec);

// The colour of a value as "#rrggbb" (exposed for tests).
std::string heatmap_color(double value, double min, double max);

}  // namespace longctx::eval
