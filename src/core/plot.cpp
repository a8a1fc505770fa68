#include "core/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"

namespace longctx {

namespace {

const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// One axis after range selection: maps data values to [0, 1].
struct Scale {
  bool log = false;
  double lo = 0, hi = 1;  // in transformed units (log10 for log axes)
  double t(double v) const { return log ? std::log10(v) : v; }
  bool valid(double v) const { return std::isfinite(v) && (!log || v > 0); }
  double frac(double v) const { return (t(v) - lo) / (hi - lo); }
};

double nice_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

Scale make_scale(const PlotAxis& axis, double dmin, double dmax, int target_ticks) {
  Scale s;
  s.log = axis.log;
  const bool fixed_lo = std::isfinite(axis.min), fixed_hi = std::isfinite(axis.max);
  double lo = fixed_lo ? axis.min : dmin;
  double hi = fixed_hi ? axis.max : dmax;
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = s.log ? 1 : 0, hi = s.log ? 10 : 1;
  if (s.log) {
    LONGCTX_CHECK(lo > 0 && hi > 0, "plot: log axis '%s' needs positive limits", axis.label.c_str());
    double a = std::log10(lo), b = std::log10(hi);
    if (!fixed_lo) a = std::floor(a + 1e-9);
    if (!fixed_hi) b = std::ceil(b - 1e-9);
    if (b <= a) b = a + 1;
    s.lo = a, s.hi = b;
  } else {
    if (hi <= lo) {
      const double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
      lo -= pad, hi += pad;
    }
    const double step = nice_step(hi - lo, target_ticks);
    if (!fixed_lo) lo = std::floor(lo / step + 1e-9) * step;
    if (!fixed_hi) hi = std::ceil(hi / step - 1e-9) * step;
    s.lo = lo, s.hi = hi;
  }
  return s;
}

struct Tick {
  double value;
  bool major;
};

std::vector<Tick> make_ticks(const Scale& s, int target) {
  std::vector<Tick> ticks;
  if (s.log) {
    const int a = static_cast<int>(std::ceil(s.lo - 1e-9)), b = static_cast<int>(std::floor(s.hi + 1e-9));
    const int decades = std::max(1, b - a);
    const int every = std::max(1, (decades + target - 1) / target);
    for (int e = a - 1; e <= b; ++e) {
      const double v = std::pow(10.0, e);
      if (e >= a && (e - a) % every == 0) ticks.push_back({v, true});
      if (decades <= 6)
        for (int m = 2; m <= 9; ++m) {
          const double mv = m * v;
          if (std::log10(mv) > s.lo + 1e-9 && std::log10(mv) < s.hi - 1e-9) ticks.push_back({mv, false});
        }
    }
  } else {
    const double step = nice_step(s.hi - s.lo, target);
    for (double v = std::ceil(s.lo / step - 1e-9) * step; v <= s.hi + step * 1e-9; v += step)
      ticks.push_back({std::fabs(v) < step * 1e-9 ? 0.0 : v, true});
  }
  return ticks;
}

std::string fmt(const char* f, double v) { return strformat(f, v); }

}  // namespace

std::string format_tick(double v) {
  const double a = std::fabs(v);
  if (v == 0) return "0";
  if (a >= 1e9 || a < 1e-3) {
    std::string s = strformat("%.3g", v);
    return s;
  }
  if (a >= 1e6) return strformat("%gM", std::round(v / 1e6 * 1000) / 1000);
  if (a >= 1e4 || (a >= 1e3 && std::fmod(a, 1000) == 0)) return strformat("%gk", std::round(v / 1e3 * 1000) / 1000);
  return strformat("%g", std::round(v * 1e6) / 1e6);
}

std::string render_svg(const PlotSpec& plot) {
  // Data ranges over valid points.
  Scale probe_x{plot.x.log}, probe_y{plot.y.log};
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  size_t legend_chars = 0;
  for (const PlotSeries& s : plot.series) {
    LONGCTX_CHECK(s.x.size() == s.y.size(), "plot '%s': series '%s' has %zu x values but %zu y values",
                  plot.title.c_str(), s.name.c_str(), s.x.size(), s.y.size());
    legend_chars = std::max(legend_chars, s.name.size());
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!probe_x.valid(s.x[i]) || !probe_y.valid(s.y[i])) continue;
      if (std::isfinite(plot.x.min) && s.x[i] < plot.x.min) continue;
      if (std::isfinite(plot.x.max) && s.x[i] > plot.x.max) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  }
  const double left = 84, top = plot.subtitle.empty() ? 44 : 62, bottom = 62;
  const double legend_w = legend_chars ? 48 + 8.0 * static_cast<double>(legend_chars) : 16;
  const double pw = plot.width - left - legend_w - 8, ph = plot.height - top - bottom;
  LONGCTX_CHECK(pw > 50 && ph > 50, "plot '%s': %dx%d pixels is too small", plot.title.c_str(), plot.width,
                plot.height);
  Scale sx = make_scale(plot.x, xmin, xmax, 8);
  Scale sy = make_scale(plot.y, ymin, ymax, 6);
  if (plot.equal_aspect && !sx.log && !sy.log) {
    const double ux = (sx.hi - sx.lo) / pw, uy = (sy.hi - sy.lo) / ph;
    if (ux > uy) {
      const double c = (sy.hi + sy.lo) / 2, half = ux * ph / 2;
      sy.lo = c - half, sy.hi = c + half;
    } else {
      const double c = (sx.hi + sx.lo) / 2, half = uy * pw / 2;
      sx.lo = c - half, sx.hi = c + half;
    }
  }
  auto px = [&](double v) { return left + sx.frac(v) * pw; };
  auto py = [&](double v) { return top + ph - sy.frac(v) * ph; };

  std::string svg = strformat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"13\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<defs><clipPath id=\"area\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
      plot.width, plot.height, plot.width, plot.height, left, top, pw, ph);
  svg += strformat("<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">%s</text>\n",
                   left + pw / 2, xml_escape(plot.title).c_str());
  if (!plot.subtitle.empty())
    svg += strformat("<text x=\"%.1f\" y=\"44\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n", left + pw / 2,
                     xml_escape(plot.subtitle).c_str());

  // Grid and ticks.
  for (const Tick& t : make_ticks(sx, 8)) {
    const double x = px(t.value);
    if (x < left - 0.5 || x > left + pw + 0.5) continue;
    svg += strformat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n", x,
                     top, x, top + ph, t.major ? "#dddddd" : "#f0f0f0");
    if (t.major)
      svg += strformat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, top + ph + 18,
                       format_tick(t.value).c_str());
  }
  for (const Tick& t : make_ticks(sy, 6)) {
    const double y = py(t.value);
    if (y < top - 0.5 || y > top + ph + 0.5) continue;
    svg += strformat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n", left,
                     y, left + pw, y, t.major ? "#dddddd" : "#f0f0f0");
    if (t.major)
      svg += strformat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 6, y + 4,
                       format_tick(t.value).c_str());
  }
  if (plot.zero_line && !sy.log && sy.lo < 0 && sy.hi > 0)
    svg += strformat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-width=\"1\"/>\n",
                     left, py(0), left + pw, py(0));
  svg += strformat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", left,
                   top, pw, ph);
  svg += strformat("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", left + pw / 2,
                   top + ph + 44, xml_escape(plot.x.label + (plot.x.log ? " [log scale]" : "")).c_str());
  svg += strformat("<text transform=\"translate(20,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
                   top + ph / 2, xml_escape(plot.y.label + (plot.y.log ? " [log scale]" : "")).c_str());

  // Series.
  svg += "<g clip-path=\"url(#area)\" fill=\"none\" stroke-linejoin=\"round\">\n";
  size_t color_i = 0;
  std::vector<std::string> colors;
  for (const PlotSeries& s : plot.series) {
    const std::string color = s.color.empty() ? kPalette[color_i++ % 10] : s.color;
    colors.push_back(color);
    const std::string dash = s.dashed ? " stroke-dasharray=\"6,4\"" : "";
    std::string pts;
    auto flush = [&] {
      if (!pts.empty() && s.line)
        svg += "<polyline points=\"" + pts + "\" stroke=\"" + color + "\" stroke-width=\"1.8\"" + dash + "/>\n";
      pts.clear();
    };
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!sx.valid(s.x[i]) || !sy.valid(s.y[i])) {
        flush();
        continue;
      }
      pts += fmt("%.1f,", px(s.x[i])) + fmt("%.1f ", py(s.y[i]));
      if (s.markers)
        svg += strformat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\" fill=\"%s\" stroke=\"none\"/>\n", px(s.x[i]),
                         py(s.y[i]), color.c_str());
    }
    flush();
  }
  svg += "</g>\n";

  // Legend, right of the plot area.
  double ly = top + 8;
  const double lx = left + pw + 14;
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const PlotSeries& s = plot.series[i];
    if (s.name.empty()) continue;
    if (s.line)
      svg += strformat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>\n",
                       lx, ly, lx + 24, ly, colors[i].c_str(), s.dashed ? " stroke-dasharray=\"6,4\"" : "");
    else
      svg += strformat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", lx + 12, ly, colors[i].c_str());
    svg += strformat("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + 30, ly + 4, xml_escape(s.name).c_str());
    ly += 20;
  }
  svg += "</svg>\n";
  return svg;
}

void write_svg(const PlotSpec& plot, const std::string& path) {
  const std::string text = render_svg(plot);
  std::ofstream out(path, std::ios::binary);
  LONGCTX_CHECK(out.good(), "plot: cannot open '%s' for writing", path.c_str());
  out << text;
  LONGCTX_CHECK(out.good(), "plot: writing '%s' failed", path.c_str());
}

}  // namespace longctx
