// The heatmap writer: colour scale ends, one cell per value with its text, size checks.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "eval/heatmap.h"

namespace longctx::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Heatmap, ColoursAndCells) {
  EXPECT_EQ(heatmap_color(0, 0, 100), "#d73027");    // red
  EXPECT_EQ(heatmap_color(100, 0, 100), "#1a9650");  // green
  EXPECT_EQ(heatmap_color(-5, 0, 100), heatmap_color(0, 0, 100));  // clamped
  EXPECT_EQ(heatmap_color(NAN, 0, 100), "#bbbbbb");
  HeatmapSpec h;
  h.title = "grid <&>";
  h.columns = {"1k", "2k", "4k"};
  h.rows = {"0%", "50%"};
  h.values = {100, 50, 0, 25, NAN, 75};
  const std::string svg = render_heatmap_svg(h);
  EXPECT_EQ(count(svg, "stroke=\"white\""), 6u);  // one rect per cell
  EXPECT_NE(svg.find(">75</text>"), std::string::npos);
  EXPECT_NE(svg.find("grid &lt;&amp;&gt;"), std::string::npos);
  h.values.pop_back();
  EXPECT_THROW(render_heatmap_svg(h), Error);
}

}  // namespace
}  // namespace longctx::eval
