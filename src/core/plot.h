// A small SVG line-plot writer: several named series, a legend, axis labels
// (with units in the label text), linear or log axes with ticks, optional markers.
// No dependencies; output is a standalone SVG a browser or rsvg-convert renders.
//
//   PlotSpec p;
//   p.title = "Attention decay";  p.x.label = "relative distance D (tokens)";  p.x.log = true;
//   p.y.label = "score S(D)";
//   p.series.push_back({"RoPE b=1e4", xs, ys});
//   write_svg(p, "decay.svg");
//
// Points with a non-finite coordinate (or <= 0 on a log axis) break the line.
#pragma once
#include <limits>
#include <string>
#include <vector>

namespace longctx {

struct PlotSeries {
  std::string name;          // legend entry (empty: not listed)
  std::vector<double> x, y;  // same length
  std::string color;         // empty: taken from the palette in order
  bool markers = false;      // draw a dot at every point
  bool dashed = false;
  bool line = true;          // false with markers: scatter plot
};

struct PlotAxis {
  std::string label;  // include units, e.g. "distance (tokens)"
  bool log = false;   // base-10 log scale (decade ticks, minor ticks at 2..9)
  double min = std::numeric_limits<double>::quiet_NaN();  // NaN: from the data
  double max = std::numeric_limits<double>::quiet_NaN();
};

struct PlotSpec {
  std::string title;
  std::string subtitle;  // small second line under the title (e.g. parameters)
  PlotAxis x, y;
  std::vector<PlotSeries> series;
  int width = 900, height = 520;  // pixels, legend included
  bool equal_aspect = false;      // same data units per pixel on both axes (spirals)
  bool zero_line = false;         // horizontal line at y = 0 (linear y only)
};

// The SVG document text. Throws Error on mismatched x/y lengths.
std::string render_svg(const PlotSpec& plot);
// Writes render_svg(plot) to path; throws Error naming the path on failure.
void write_svg(const PlotSpec& plot, const std::string& path);

// Tick label text: 1, 2.5, 10k, 1.5M, 1e-05 (compact, for axis labels and tables).
std::string format_tick(double v);

}  // namespace longctx
