// The paper's position-encoding analyses (LLaMA 2 Long, section 4.1 / Figure 4 and
// Appendix B / Figure 8), computed from a RopeFreqs table so every kind is covered.
// Angles in radians, distances in tokens. d = head_dim; pairs beyond theta.size()
// (partial rotary) have angle 0.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/rope_apply.h"

namespace longctx::rope {

// Pre-softmax score of all-ones q and k at distance D:
// S(D) = (a^2 / sqrt(d)) * sum_{j < d/2} 2 cos(D theta_j) * zeta_j^(D / scale_base),
// a = attention factor (it multiplies q and k), the zeta term only for xPos.
double decay_score(const kernels::RopeFreqs& freqs, int head_dim, double distance);

// RoFormer's relative upper bound (2/d) * sum_{j=1}^{d/2} |S_j|, S_j = sum_{k<j} e^{i D theta_k}
// (the long-term decay bound, up to max_j |h_{j+1} - h_j|). Equals (d/2 + 1)/2 at D = 0.
double decay_relative_bound(const kernels::RopeFreqs& freqs, int head_dim, double distance);

// Appendix B: C_d = (2/d) * sum_j theta_j, the bound on the angle between embeddings of
// neighbouring positions normalised by d/2 (larger = neighbours more distinguishable).
double granularity_cd(const kernels::RopeFreqs& freqs, int head_dim);
// d -> infinity limit for theta_j = scale * B^(-2j/d): scale * (1 - 1/B) / ln B.
// ABF (B = beta * b, scale 1) ~ 1/(ln b + ln beta); PI (B = b, scale alpha) ~ alpha / ln b.
double granularity_limit(double base, double scale);

// Angle between R_m x and R_{m+D} x for a vector x of length head_dim (rotation only:
// xPos magnitudes and the attention factor do not change the direction's rotation part and
// are ignored). It depends on D only, not on m.
double position_angle(const kernels::RopeFreqs& freqs, const std::vector<double>& x, double distance);

struct AngleStats {
  double neighbour = 0;      // angle at D = 1 (radians)
  double min_angle = 0;      // min over D in [1, max_distance] (radians): the least distinguishable pair
  int64_t argmin = 0;        // the D where it occurs
};
AngleStats position_angle_stats(const kernels::RopeFreqs& freqs, const std::vector<double>& x,
                                int64_t max_distance);

// A deterministic standard-normal vector (seeded) of length n.
std::vector<double> random_vector(int n, uint64_t seed);

// Figure 8: the trajectory (Re f_0, Im f_0, Re f_j) of x over positions 0..n_positions-1,
// f_k(m) = (x_2k + i x_2k+1) e^{i m theta_k}. Returns (n_positions, 3) row-major.
std::vector<double> spiral_trajectory(const kernels::RopeFreqs& freqs, const std::vector<double>& x, int pair_j,
                                      int64_t n_positions);

}  // namespace longctx::rope
