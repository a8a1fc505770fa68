#include "eval/heatmap.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace longctx::eval {

namespace {
std::string escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}
}  // namespace

std::string heatmap_color(double value, double min, double max) {
  if (std::isnan(value)) return "#bbbbbb";
  const double f = std::clamp((value - min) / (max - min), 0.0, 1.0);
  // Red (0) -> yellow (0.5) -> green (1).
  const double r = f < 0.5 ? 215 : 215 + (26 - 215) * (f - 0.5) * 2;
  const double g = f < 0.5 ? 48 + (190 - 48) * f * 2 : 190 - (190 - 150) * (f - 0.5) * 2;
  const double b = f < 0.5 ? 39 + (60 - 39) * f * 2 : 60 + (80 - 60) * (f - 0.5) * 2;
  return strformat("#%02x%02x%02x", static_cast<int>(std::lround(r)), static_cast<int>(std::lround(g)),
                   static_cast<int>(std::lround(b)));
}

std::string render_heatmap_svg(const HeatmapSpec& h) {
  const size_t nc = h.columns.size(), nr = h.rows.size();
  LONGCTX_CHECK(nc > 0 && nr > 0 && h.values.size() == nc * nr,
                "heatmap '%s': %zu values for %zu rows x %zu columns", h.title.c_str(),
                h.values.size(), nr, nc);
  LONGCTX_CHECK(h.max > h.min, "heatmap '%s': empty colour range", h.title.c_str());
  const double cell_w = std::max(44.0, 640.0 / static_cast<double>(nc)), cell_h = 34;
  const double left = 90, top = h.subtitle.empty() ? 56 : 74, bar = 90;
  const double W = left + cell_w * static_cast<double>(nc) + bar, H = top + cell_h * static_cast<double>(nr) + 70;
  std::string s = strformat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      W, H, W, H);
  s += strformat("<text x=\"%.1f\" y=\"26\" font-size=\"17\" text-anchor=\"middle\">%s</text>\n", W / 2,
                 escape(h.title).c_str());
  if (!h.subtitle.empty())
    s += strformat("<text x=\"%.1f\" y=\"48\" font-size=\"12\" fill=\"#555\" text-anchor=\"middle\">%s</text>\n",
                   W / 2, escape(h.subtitle).c_str());
  for (size_t r = 0; r < nr; ++r)
    for (size_t c = 0; c < nc; ++c) {
      const double v = h.values[r * nc + c];
      const double x = left + cell_w * static_cast<double>(c), y = top + cell_h * static_cast<double>(r);
      s += strformat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                     "stroke=\"white\"/>\n",
                     x, y, cell_w, cell_h, heatmap_color(v, h.min, h.max).c_str());
      if (!std::isnan(v))
        s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">", x + cell_w / 2,
                       y + cell_h / 2 + 4) +
             strformat(h.value_format.c_str(), v) + "</text>\n";
    }
  for (size_t c = 0; c < nc; ++c)
    s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                   left + cell_w * (static_cast<double>(c) + 0.5), top + cell_h * static_cast<double>(nr) + 16,
                   escape(h.columns[c]).c_str());
  for (size_t r = 0; r < nr; ++r)
    s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", left - 6,
                   top + cell_h * (static_cast<double>(r) + 0.5) + 4, escape(h.rows[r]).c_str());
  s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
                 left + cell_w * static_cast<double>(nc) / 2, top + cell_h * static_cast<double>(nr) + 40,
                 escape(h.x_label).c_str());
  s += strformat("<text x=\"18\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 18 %.1f)\">%s</text>\n",
                 top + cell_h * static_cast<double>(nr) / 2, top + cell_h * static_cast<double>(nr) / 2,
                 escape(h.y_label).c_str());
  // Colour bar: 10 steps from max (top) to min (bottom).
  const double bx = left + cell_w * static_cast<double>(nc) + 24, bh = cell_h * static_cast<double>(nr);
  for (int i = 0; i < 10; ++i) {
    const double v = h.max - (h.max - h.min) * (i + 0.5) / 10;
    s += strformat("<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" fill=\"%s\"/>\n", bx,
                   top + bh * i / 10, bh / 10 + 0.5, heatmap_color(v, h.min, h.max).c_str());
  }
  s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", bx + 20, top + 10) +
       strformat(h.value_format.c_str(), h.max) + "</text>\n";
  s += strformat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", bx + 20, top + bh) +
       strformat(h.value_format.c_str(), h.min) + "</text>\n";
  return s + "</svg>\n";
}

}  // namespace longctx::eval
