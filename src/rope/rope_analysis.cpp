#include "rope/rope_analysis.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <random>

#include "core/error.h"

namespace longctx::rope {

namespace {
double pair_theta(const kernels::RopeFreqs& f, int j) {
  return j < static_cast<int>(f.theta.size()) ? f.theta[j] : 0.0;
}
void check_dim(const kernels::RopeFreqs& f, int head_dim) {
  LONGCTX_CHECK(head_dim > 0 && head_dim % 2 == 0 && static_cast<int>(f.theta.size()) <= head_dim / 2,
                "rope analysis: head_dim %d does not fit %zu rotated pairs", head_dim, f.theta.size());
}
}  // namespace

double decay_score(const kernels::RopeFreqs& f, int head_dim, double distance) {
  check_dim(f, head_dim);
  double sum = 0;
  for (int j = 0; j < head_dim / 2; ++j) {
    double term = 2.0 * std::cos(distance * pair_theta(f, j));
    if (!f.xpos_zeta.empty() && j < static_cast<int>(f.xpos_zeta.size()))
      term *= std::pow(f.xpos_zeta[j], distance / f.xpos_scale_base);
    sum += term;
  }
  return f.attention_factor * f.attention_factor * sum / std::sqrt(static_cast<double>(head_dim));
}

double decay_relative_bound(const kernels::RopeFreqs& f, int head_dim, double distance) {
  check_dim(f, head_dim);
  std::complex<double> partial = 0;
  double total = 0;
  for (int j = 0; j < head_dim / 2; ++j) {
    partial += std::polar(1.0, distance * pair_theta(f, j));  // S_{j+1}
    total += std::abs(partial);
  }
  return 2.0 * total / head_dim;
}

double granularity_cd(const kernels::RopeFreqs& f, int head_dim) {
  check_dim(f, head_dim);
  double sum = 0;
  for (double t : f.theta) sum += t;
  return 2.0 * sum / head_dim;
}

double granularity_limit(double base, double scale) { return scale * (1.0 - 1.0 / base) / std::log(base); }

double position_angle(const kernels::RopeFreqs& f, const std::vector<double>& x, double distance) {
  LONGCTX_CHECK(x.size() % 2 == 0 && f.theta.size() <= x.size() / 2, "rope analysis: vector of %zu values", x.size());
  double dot = 0, norm = 0;
  for (size_t j = 0; j < x.size() / 2; ++j) {
    const double w = x[2 * j] * x[2 * j] + x[2 * j + 1] * x[2 * j + 1];
    dot += w * std::cos(distance * pair_theta(f, static_cast<int>(j)));
    norm += w;
  }
  return std::acos(std::clamp(dot / norm, -1.0, 1.0));
}

AngleStats position_angle_stats(const kernels::RopeFreqs& f, const std::vector<double>& x, int64_t max_distance) {
  LONGCTX_CHECK(max_distance >= 1, "rope analysis: max distance must be >= 1");
  AngleStats s;
  s.neighbour = position_angle(f, x, 1.0);
  s.min_angle = s.neighbour;
  s.argmin = 1;
  for (int64_t D = 2; D <= max_distance; ++D) {
    const double a = position_angle(f, x, static_cast<double>(D));
    if (a < s.min_angle) s.min_angle = a, s.argmin = D;
  }
  return s;
}

std::vector<double> random_vector(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = normal(rng);
  return v;
}

std::vector<double> spiral_trajectory(const kernels::RopeFreqs& f, const std::vector<double>& x, int pair_j,
                                      int64_t n_positions) {
  LONGCTX_CHECK(pair_j >= 0 && 2 * static_cast<size_t>(pair_j) + 1 < x.size(),
                "rope spiral: pair %d outside the head (%zu values)", pair_j, x.size());
  const std::complex<double> x0(x[0], x[1]), xj(x[2 * pair_j], x[2 * pair_j + 1]);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n_positions) * 3);
  for (int64_t m = 0; m < n_positions; ++m) {
    const std::complex<double> f0 = x0 * std::polar(1.0, m * pair_theta(f, 0));
    const std::complex<double> fj = xj * std::polar(1.0, m * pair_theta(f, pair_j));
    out.push_back(f0.real());
    out.push_back(f0.imag());
    out.push_back(fj.real());
  }
  return out;
}

}  // namespace longctx::rope
