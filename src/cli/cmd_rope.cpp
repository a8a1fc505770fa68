// `longctx rope show|decay|granularity|spiral|kinds`: the position-encoding analyses of
// the LLaMA 2 Long paper for any RopeSpec. Each writes CSV + JSON + SVG into --out and
// prints a short table. Formulas: src/rope/rope_analysis.h, docs/rope.md.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/registry.h"
#include "core/error.h"
#include "core/plot.h"
#include "rope/rope_analysis.h"
#include "rope/rope_spec.h"

namespace longctx::cli {
namespace {

using nlohmann::json;
using rope::RopeSpec;
constexpr double kPi = 3.14159265358979323846;

struct CommonOptions {
  std::vector<std::string> specs;
  int head_dim = 128;
  std::string out = "rope_out";
};

void add_common(CLI::App* cmd, CommonOptions& o, std::vector<std::string> default_specs) {
  o.specs = std::move(default_specs);
  cmd->add_option("--rope", o.specs, "Position encoding (repeatable). " + rope::rope_spec_help())
      ->capture_default_str();
  cmd->add_option("--head-dim", o.head_dim, "Head dimension d")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", o.out, "Output folder (created)")->capture_default_str();
}

std::vector<RopeSpec> parse_specs(const std::vector<std::string>& texts) {
  LONGCTX_CHECK(!texts.empty(), "--rope: give at least one spec");
  std::vector<RopeSpec> out;
  for (const std::string& t : texts) {
    try {
      out.push_back(rope::parse_rope_spec(t));
    } catch (const Error& e) {
      throw e.with_context("--rope");
    }
  }
  return out;
}

std::string prepare_out(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  LONGCTX_CHECK(!ec, "--out '%s': cannot create folder: %s", dir.c_str(), ec.message().c_str());
  return dir;
}

struct TextFile {
  std::ofstream f;
  std::string path;
  explicit TextFile(const std::string& p) : f(p), path(p) {
    LONGCTX_CHECK(f.good(), "cannot open '%s' for writing", p.c_str());
  }
  ~TextFile() = default;
};

void write_json(const std::string& path, const json& j) {
  TextFile t(path);
  t.f << j.dump(2) << "\n";
  LONGCTX_CHECK(t.f.good(), "writing '%s' failed", path.c_str());
}

std::string label(const RopeSpec& s) { return rope::format_rope_spec(s); }

// Distances 0..max on a grid fine enough for the oscillations (<= ~4000 points) plus probes.
// A series with only its legend name set; the data and style are filled in after.
PlotSeries named_series(std::string name) {
  PlotSeries p;
  p.name = std::move(name);
  return p;
}

std::vector<double> distance_grid(int64_t max_distance, const std::vector<double>& probes) {
  std::vector<double> d;
  const int64_t step = std::max<int64_t>(1, max_distance / 4000);
  for (int64_t D = 0; D <= max_distance; D += step) d.push_back(static_cast<double>(D));
  for (double p : probes)
    if (p <= max_distance) d.push_back(p);
  std::sort(d.begin(), d.end());
  d.erase(std::unique(d.begin(), d.end()), d.end());
  return d;
}

void run_show(const CommonOptions& o, int64_t context) {
  const auto specs = parse_specs(o.specs);
  const std::string dir = prepare_out(o.out);
  TextFile csv(dir + "/show.csv");
  csv.f << "spec,pair,theta_rad_per_token,wavelength_tokens,rotations_in_context\n";
  json j = {{"head_dim", o.head_dim}, {"context", context}, {"specs", json::array()}};
  PlotSpec plot;
  plot.title = "RoPE wavelength per rotated pair";
  plot.subtitle = strformat("head_dim %d; dashed line: context %lld tokens", o.head_dim, (long long)context);
  plot.x.label = "pair index j";
  plot.y.label = "wavelength 2\u03c0/\u03b8_j (tokens)";
  plot.y.log = true;
  std::vector<kernels::RopeFreqs> tables;
  for (const RopeSpec& s : specs) {
    const auto f = rope::rope_frequencies(s, o.head_dim, context);
    tables.push_back(f);
    PlotSeries series = named_series(label(s));
    json js = {{"spec", label(s)}, {"attention_factor", f.attention_factor}, {"pairs", json::array()}};
    for (size_t p = 0; p < f.theta.size(); ++p) {
      const double wl = f.theta[p] > 0 ? 2 * kPi / f.theta[p] : INFINITY;
      const double rot = context * f.theta[p] / (2 * kPi);
      csv.f << '"' << label(s) << "\"," << p << ',' << strformat("%.17g,%.17g,%.17g\n", f.theta[p], wl, rot);
      js["pairs"].push_back({{"theta", f.theta[p]}, {"wavelength", std::isfinite(wl) ? json(wl) : json(nullptr)},
                             {"rotations", rot}});
      series.x.push_back(static_cast<double>(p));
      series.y.push_back(wl);
    }
    j["specs"].push_back(js);
    plot.series.push_back(series);
  }
  const double last = static_cast<double>(o.head_dim / 2 - 1);
  plot.series.push_back({"context length", {0.0, last}, {double(context), double(context)}, "#000000", false, true});
  write_json(dir + "/show.json", j);
  write_svg(plot, dir + "/show.svg");

  std::printf("%-6s", "pair");
  for (const RopeSpec& s : specs) std::printf(" | %-28.28s", label(s).c_str());
  std::printf("\n%-6s", "");
  for (size_t i = 0; i < specs.size(); ++i) std::printf(" | %12s %15s", "wavelength", "rot. in ctx");
  std::printf("\n");
  const int n = static_cast<int>(tables[0].theta.size());
  for (int p = 0; p < n; p += std::max(1, n / 8)) {
    std::printf("%-6d", p);
    for (const auto& f : tables) {
      if (p >= static_cast<int>(f.theta.size())) { std::printf(" | %28s", "-"); continue; }
      std::printf(" | %12.4g %15.4g", 2 * kPi / f.theta[p], context * f.theta[p] / (2 * kPi));
    }
    std::printf("\n");
  }
  std::printf("wrote %s/show.{csv,json,svg}\n", dir.c_str());
}

void run_decay(const CommonOptions& o, int64_t max_distance, const std::vector<double>& at) {
  const auto specs = parse_specs(o.specs);
  const std::string dir = prepare_out(o.out);
  const auto grid = distance_grid(max_distance, at);
  PlotSpec plot, bound;
  plot.title = "Attention score vs distance (all-ones q, k)";
  plot.subtitle = strformat("S(D) = (1/\u221ad) \u03a3_j 2 cos(D \u03b8_j), d = %d (paper Figure 4)", o.head_dim);
  plot.x.label = "relative distance D (tokens)";
  plot.y.label = "pre-softmax score S(D)";
  plot.zero_line = true;
  bound.title = "RoFormer relative upper bound";
  bound.subtitle = strformat("(2/d) \u03a3_j |\u03a3_{k<j} exp(i D \u03b8_k)|, d = %d", o.head_dim);
  bound.x.label = "relative distance D (tokens)";
  bound.x.log = true;
  bound.y.label = "relative upper bound";
  std::vector<std::vector<double>> scores, bounds;
  json j = {{"head_dim", o.head_dim}, {"specs", json::array()}};
  for (const RopeSpec& s : specs) {
    const auto f = rope::rope_frequencies(s, o.head_dim, max_distance);
    PlotSeries ps = named_series(label(s)), pb = named_series(label(s));
    std::vector<double> sc, bd;
    for (double D : grid) {
      sc.push_back(rope::decay_score(f, o.head_dim, D));
      bd.push_back(rope::decay_relative_bound(f, o.head_dim, D));
    }
    ps.x = grid, ps.y = sc, pb.x = grid, pb.y = bd;
    plot.series.push_back(ps);
    bound.series.push_back(pb);
    json js = {{"spec", label(s)}, {"at", json::array()}};
    for (double D : at)
      js["at"].push_back({{"distance", D}, {"score", rope::decay_score(f, o.head_dim, D)},
                          {"relative_bound", rope::decay_relative_bound(f, o.head_dim, D)}});
    j["specs"].push_back(js);
    scores.push_back(sc);
    bounds.push_back(bd);
  }
  TextFile csv(dir + "/decay.csv");
  csv.f << "distance";
  for (const RopeSpec& s : specs) csv.f << ",\"score " << label(s) << "\"";
  for (const RopeSpec& s : specs) csv.f << ",\"bound " << label(s) << "\"";
  csv.f << "\n";
  for (size_t i = 0; i < grid.size(); ++i) {
    csv.f << grid[i];
    for (const auto& v : scores) csv.f << strformat(",%.10g", v[i]);
    for (const auto& v : bounds) csv.f << strformat(",%.10g", v[i]);
    csv.f << "\n";
  }
  write_json(dir + "/decay.json", j);
  write_svg(plot, dir + "/decay.svg");
  write_svg(bound, dir + "/decay_bound.svg");

  std::printf("%-36s", "spec \\ D");
  for (double D : at) std::printf(" %9s", format_tick(D).c_str());
  std::printf("\n");
  for (size_t k = 0; k < specs.size(); ++k) {
    std::printf("%-36.36s", label(specs[k]).c_str());
    for (const auto& p : j["specs"][k]["at"]) std::printf(" %9.2f", p["score"].get<double>());
    std::printf("\n");
  }
  std::printf("wrote %s/decay.{csv,json,svg} and decay_bound.svg\n", dir.c_str());
}

// The d -> infinity limit where the spec is RoPE/ABF/PI (theta_j = scale * B^(-2j/d)); NaN otherwise.
double limit_for(const RopeSpec& s) {
  switch (s.kind) {
    case rope::RopeKind::kDefault:
    case rope::RopeKind::kAbf:
    case rope::RopeKind::kXpos:
      return rope::granularity_limit(s.base, 1.0);
    case rope::RopeKind::kLinear:
      return rope::granularity_limit(s.base, 1.0 / rope::rope_param(s, "factor"));
    default:
      return NAN;
  }
}

void run_granularity(const CommonOptions& o, int64_t max_distance, uint64_t seed) {
  const auto specs = parse_specs(o.specs);
  const std::string dir = prepare_out(o.out);
  const auto x = rope::random_vector(o.head_dim, seed);
  PlotSpec cd, ang;
  cd.title = "Granularity C_d (paper Appendix B)";
  cd.subtitle = "C_d = (2/d) \u03a3_j \u03b8_j; dashed: d \u2192 \u221e limit";
  cd.x.label = "head dimension d";
  cd.x.log = true;
  cd.y.label = "C_d (radians per token, per pair)";
  ang.title = "Angle between embeddings of positions D apart";
  ang.subtitle = strformat("random Gaussian vector (seed %llu), d = %d", (unsigned long long)seed, o.head_dim);
  ang.x.label = "relative distance D (tokens)";
  ang.x.log = true;
  ang.y.label = "angle (radians)";
  ang.y.log = true;
  TextFile csv(dir + "/granularity.csv");
  csv.f << "spec,head_dim,c_d,limit\n";
  json j = {{"head_dim", o.head_dim}, {"seed", seed}, {"max_distance", max_distance}, {"specs", json::array()}};
  std::printf("%-36s %9s %9s %12s %12s %8s\n", "spec", "C_d", "limit", "neighbour", "min angle", "at D");
  const char* const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  size_t k = 0;
  for (const RopeSpec& s : specs) {
    const std::string color = palette[k++ % 10];
    PlotSeries ps = named_series(label(s));
    ps.color = color;
    ps.markers = true;
    for (int d = 16; d <= 8192; d *= 2) {
      const double v = rope::granularity_cd(rope::rope_frequencies(s, d, max_distance), d);
      csv.f << '"' << label(s) << "\"," << d << strformat(",%.10g,%.10g\n", v, limit_for(s));
      ps.x.push_back(d);
      ps.y.push_back(v);
    }
    cd.series.push_back(ps);
    const double lim = limit_for(s);
    if (std::isfinite(lim)) cd.series.push_back({"", {16.0, 8192.0}, {lim, lim}, color, false, true});
    const auto f = rope::rope_frequencies(s, o.head_dim, max_distance);
    const double c = rope::granularity_cd(f, o.head_dim);
    const rope::AngleStats st = rope::position_angle_stats(f, x, max_distance);
    PlotSeries pa = named_series(label(s));
    pa.color = color;
    for (int64_t D = 1; D <= max_distance; D = D < 64 ? D + 1 : D + D / 64) {
      pa.x.push_back(double(D));
      pa.y.push_back(rope::position_angle(f, x, double(D)));
    }
    ang.series.push_back(pa);
    j["specs"].push_back({{"spec", label(s)}, {"c_d", c}, {"limit", std::isfinite(lim) ? json(lim) : json(nullptr)},
                          {"neighbour_angle", st.neighbour}, {"min_angle", st.min_angle}, {"min_angle_at", st.argmin}});
    std::printf("%-36.36s %9.4f %9s %12.4g %12.4g %8lld\n", label(s).c_str(), c,
                std::isfinite(lim) ? strformat("%.4f", lim).c_str() : "-", st.neighbour, st.min_angle,
                (long long)st.argmin);
  }
  write_json(dir + "/granularity.json", j);
  write_svg(cd, dir + "/granularity.svg");
  write_svg(ang, dir + "/granularity_angle.svg");
  std::printf("wrote %s/granularity.{csv,json,svg} and granularity_angle.svg\n", dir.c_str());
}

void run_spiral(const CommonOptions& o, int pair_j, int64_t positions, uint64_t seed) {
  const auto specs = parse_specs(o.specs);
  const std::string dir = prepare_out(o.out);
  LONGCTX_CHECK(pair_j >= 1 && pair_j < o.head_dim / 2, "--pair %d must be in [1, head_dim/2)", pair_j);
  LONGCTX_CHECK(positions >= 2, "--positions must be >= 2");
  const auto x = rope::random_vector(o.head_dim, seed);
  TextFile csv(dir + "/spiral.csv");
  csv.f << "spec,position,re_f0,im_f0,re_fj\n";
  json j = {{"head_dim", o.head_dim}, {"pair", pair_j}, {"positions", positions}, {"seed", seed},
            {"plots", json::array()}};
  // Oblique projection of (Re f0, Im f0, Re fj): the third axis goes up and to the right.
  const double cx = std::cos(kPi / 6) * 0.7, cy = std::sin(kPi / 6) * 0.7;
  std::printf("%-36s %14s %14s\n", "spec", "theta_0", "theta_j");
  for (size_t k = 0; k < specs.size(); ++k) {
    const RopeSpec& s = specs[k];
    const auto f = rope::rope_frequencies(s, o.head_dim, positions);
    const auto traj = rope::spiral_trajectory(f, x, pair_j, positions);
    PlotSpec plot;
    plot.title = "Trajectory of one vector over positions: " + label(s);
    plot.subtitle = strformat("(Re f_0, Im f_0, Re f_%d), %lld positions, oblique projection (paper Figure 8)",
                              pair_j, (long long)positions);
    plot.x.label = "Re f_0 + 0.61 Re f_j";
    plot.y.label = "Im f_0 + 0.35 Re f_j";
    plot.equal_aspect = true;
    plot.width = 760;
    plot.height = 640;
    PlotSeries path = named_series("trajectory"), start = named_series("position 0");
    start.markers = true, start.line = false, start.color = "#d62728";
    for (int64_t m = 0; m < positions; ++m) {
      const double re0 = traj[3 * m], im0 = traj[3 * m + 1], rej = traj[3 * m + 2];
      csv.f << '"' << label(s) << "\"," << m << strformat(",%.10g,%.10g,%.10g\n", re0, im0, rej);
      path.x.push_back(re0 + cx * rej);
      path.y.push_back(im0 + cy * rej);
    }
    start.x = {path.x[0]};
    start.y = {path.y[0]};
    plot.series = {path, start};
    const std::string name = strformat("spiral_%zu.svg", k + 1);
    write_svg(plot, dir + "/" + name);
    j["plots"].push_back({{"spec", label(s)}, {"svg", name}, {"theta_0", f.theta[0]},
                          {"theta_j", pair_j < (int)f.theta.size() ? f.theta[pair_j] : 0.0}});
    std::printf("%-36.36s %14.6g %14.6g  -> %s\n", label(s).c_str(), f.theta[0],
                pair_j < (int)f.theta.size() ? f.theta[pair_j] : 0.0, name.c_str());
  }
  write_json(dir + "/spiral.json", j);
  std::printf("wrote %s/spiral.{csv,json} and spiral_<n>.svg\n", dir.c_str());
}

void add_rope_commands(CLI::App& app) {
  CLI::App* rope_cmd = app.add_subcommand("rope", "Position encodings: tables and the paper's analyses");
  rope_cmd->require_subcommand(1);

  auto* kinds = rope_cmd->add_subcommand("kinds", "List RoPE kinds, keys, defaults and formulas");
  kinds->callback([] { std::fputs(rope::rope_spec_help().c_str(), stdout); });

  static CommonOptions show_o, decay_o, gran_o, spiral_o;
  static int64_t show_ctx = 32768, decay_max = 32768, gran_max = 32768, spiral_n = 256;
  static std::vector<double> decay_at = {0, 1000, 4000, 16000, 32000};
  static uint64_t gran_seed = 1, spiral_seed = 1;
  static int spiral_pair = 8;

  auto* show = rope_cmd->add_subcommand("show", "Per-pair frequency, wavelength and rotations within a context");
  add_common(show, show_o, {"default", "linear:factor=8", "abf", "yarn:factor=8,original=4096"});
  show->add_option("--context", show_ctx, "Context length (tokens)")->capture_default_str()->check(CLI::PositiveNumber);
  show->callback([] { run_show(show_o, show_ctx); });

  auto* decay = rope_cmd->add_subcommand("decay", "Attention decay S(D) (paper Figure 4) and the RoFormer bound");
  add_common(decay, decay_o, {"default", "linear:factor=8", "abf", "xpos:base=500000"});
  decay->add_option("--max-distance", decay_max, "Largest distance D (tokens)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  decay->add_option("--at", decay_at, "Distances to tabulate (tokens)")->capture_default_str()->delimiter(',');
  decay->callback([] { run_decay(decay_o, decay_max, decay_at); });

  auto* gran = rope_cmd->add_subcommand("granularity", "C_d (paper Appendix B) and angles between positions");
  add_common(gran, gran_o, {"abf:base=500000", "linear:factor=4", "default"});
  gran->add_option("--max-distance", gran_max, "Largest distance for the minimum angle (tokens)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  gran->add_option("--seed", gran_seed, "Seed of the random vector")->capture_default_str();
  gran->callback([] { run_granularity(gran_o, gran_max, gran_seed); });

  auto* spiral = rope_cmd->add_subcommand("spiral", "Trajectory (Re f0, Im f0, Re fj) over positions (Figure 8)");
  add_common(spiral, spiral_o, {"default", "linear:factor=4", "abf:base=500000"});
  spiral->add_option("--pair", spiral_pair, "Pair j for the third coordinate")->capture_default_str();
  spiral->add_option("--positions", spiral_n, "Number of positions")->capture_default_str();
  spiral->add_option("--seed", spiral_seed, "Seed of the random vector")->capture_default_str();
  spiral->callback([] { run_spiral(spiral_o, spiral_pair, spiral_n, spiral_seed); });
}

const CommandRegistrar kRegistrar("rope", add_rope_commands);

}  // namespace
}  // namespace longctx::cli
