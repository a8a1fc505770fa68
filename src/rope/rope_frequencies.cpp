// RopeSpec -> kernels::RopeFreqs for every kind. Double precision throughout;
// the formulas follow Hugging Face transformers' modeling_rope_utils (and the
// papers) and are restated in docs/rope.md. d below is the ROTATED width
// (2 * rotated pairs), as in HF where partial_rotary_factor shrinks `dim`.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "rope/rope_spec.h"

namespace longctx::rope {

namespace {

constexpr double kPi = 3.14159265358979323846;

// theta_j = base^(-2j/d), j = 0..n_pairs-1.
std::vector<double> plain_theta(double base, int n_pairs) {
  std::vector<double> theta(static_cast<size_t>(n_pairs));
  const double d = 2.0 * n_pairs;
  for (int j = 0; j < n_pairs; ++j) theta[j] = std::pow(base, -2.0 * j / d);
  return theta;
}

// YaRN / HF: 0.1 * mscale * ln(s) + 1 for s > 1, else 1.
double yarn_get_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Pair index (fractional) at which a frequency makes `rotations` turns over `original` tokens.
double yarn_correction_dim(double rotations, double d, double base, double original) {
  return d * std::log(original / (rotations * 2.0 * kPi)) / (2.0 * std::log(base));
}

void apply_yarn(const RopeSpec& spec, int n_pairs, kernels::RopeFreqs& out) {
  const double s = rope_param(spec, "factor");
  const double original = rope_param(spec, "original");
  const double d = 2.0 * n_pairs;
  const bool truncate = rope_param(spec, "truncate") != 0.0;
  double low = yarn_correction_dim(rope_param(spec, "beta_fast"), d, spec.base, original);
  double high = yarn_correction_dim(rope_param(spec, "beta_slow"), d, spec.base, original);
  if (truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, d - 1.0);
  if (low == high) high += 0.001;  // HF: avoid a zero-width ramp
  for (int j = 0; j < n_pairs; ++j) {
    // ramp 0: extrapolate (keep theta, high frequency); ramp 1: interpolate (theta / s).
    const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
    out.theta[j] = out.theta[j] / s * ramp + out.theta[j] * (1.0 - ramp);
  }
  if (has_rope_param(spec, "attention_factor")) {
    out.attention_factor = spec.params.at("attention_factor");
  } else if (has_rope_param(spec, "mscale") && has_rope_param(spec, "mscale_all_dim")) {
    out.attention_factor =
        yarn_get_mscale(s, spec.params.at("mscale")) / yarn_get_mscale(s, spec.params.at("mscale_all_dim"));
  } else {
    out.attention_factor = yarn_get_mscale(s, 1.0);
  }
}

void apply_llama3(const RopeSpec& spec, kernels::RopeFreqs& out) {
  const double factor = rope_param(spec, "factor");
  const double low = rope_param(spec, "low_freq_factor");
  const double high = rope_param(spec, "high_freq_factor");
  const double original = rope_param(spec, "original");
  const double low_freq_wavelen = original / low;    // longer than this: divide by factor
  const double high_freq_wavelen = original / high;  // shorter than this: keep
  for (double& theta : out.theta) {
    const double wavelen = 2.0 * kPi / theta;
    if (wavelen < high_freq_wavelen) continue;
    if (wavelen > low_freq_wavelen) {
      theta /= factor;
    } else {
      const double smooth = (original / wavelen - low) / (high - low);
      theta = (1.0 - smooth) * theta / factor + smooth * theta;
    }
  }
}

void apply_truncation(const RopeSpec& spec, kernels::RopeFreqs& out) {
  const double b_cut = 2.0 * kPi / rope_param(spec, "wavelength");
  const double a = rope_param(spec, "low") * b_cut;
  const double rho = rope_param(spec, "rho") * b_cut;
  for (double& theta : out.theta) {
    if (theta >= b_cut) continue;
    theta = theta >= a ? rho : 0.0;
  }
}

void apply_longrope(const RopeSpec& spec, int n_pairs, int64_t seq_len, kernels::RopeFreqs& out) {
  const double original = rope_param(spec, "original");
  LONGCTX_CHECK(static_cast<int>(spec.short_factor.size()) == n_pairs,
                "rope longrope: list 'short' has %zu entries, need %d (one per rotated pair)",
                spec.short_factor.size(), n_pairs);
  LONGCTX_CHECK(static_cast<int>(spec.long_factor.size()) == n_pairs,
                "rope longrope: list 'long' has %zu entries, need %d (one per rotated pair)", spec.long_factor.size(),
                n_pairs);
  const std::vector<double>& ext = static_cast<double>(seq_len) > original ? spec.long_factor : spec.short_factor;
  for (int j = 0; j < n_pairs; ++j) out.theta[j] /= ext[j];
  if (has_rope_param(spec, "attention_factor")) {
    out.attention_factor = spec.params.at("attention_factor");
  } else {
    const double s = rope_param(spec, "factor");
    out.attention_factor = s <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(s) / std::log(original));
  }
}

}  // namespace

kernels::RopeFreqs rope_frequencies(const RopeSpec& spec, int head_dim, int64_t seq_len) {
  validate_rope_spec(spec);
  const int n_pairs = rotated_pairs(spec, head_dim);
  const double d = 2.0 * n_pairs;
  kernels::RopeFreqs out;
  switch (spec.kind) {
    case RopeKind::kDefault:
    case RopeKind::kAbf:
      out.theta = plain_theta(spec.base, n_pairs);
      break;
    case RopeKind::kLinear: {
      out.theta = plain_theta(spec.base, n_pairs);
      const double s = rope_param(spec, "factor");
      for (double& t : out.theta) t /= s;
      break;
    }
    case RopeKind::kNtk: {
      LONGCTX_CHECK(n_pairs >= 2, "rope ntk: needs at least 4 rotated dims ('head_dim'/'partial')");
      const double s = rope_param(spec, "factor");
      out.theta = plain_theta(spec.base * std::pow(s, d / (d - 2.0)), n_pairs);
      break;
    }
    case RopeKind::kDynamic: {
      LONGCTX_CHECK(n_pairs >= 2, "rope dynamic: needs at least 4 rotated dims ('head_dim'/'partial')");
      const double s = rope_param(spec, "factor");
      const double original = rope_param(spec, "original");
      // HF: the base only grows once the sequence exceeds the original context.
      const double l = std::max(static_cast<double>(seq_len), original);
      const double base = spec.base * std::pow(s * l / original - (s - 1.0), d / (d - 2.0));
      out.theta = plain_theta(base, n_pairs);
      break;
    }
    case RopeKind::kYarn:
      out.theta = plain_theta(spec.base, n_pairs);
      apply_yarn(spec, n_pairs, out);
      break;
    case RopeKind::kLlama3:
      out.theta = plain_theta(spec.base, n_pairs);
      apply_llama3(spec, out);
      break;
    case RopeKind::kXpos: {
      out.theta = plain_theta(spec.base, n_pairs);
      const double gamma = rope_param(spec, "gamma");
      out.xpos_zeta.resize(static_cast<size_t>(n_pairs));
      for (int j = 0; j < n_pairs; ++j) out.xpos_zeta[j] = (2.0 * j + gamma * d) / ((1.0 + gamma) * d);
      out.xpos_scale_base = rope_param(spec, "scale_base");
      break;
    }
    case RopeKind::kTruncation:
      out.theta = plain_theta(spec.base, n_pairs);
      apply_truncation(spec, out);
      break;
    case RopeKind::kLongRope:
      out.theta = plain_theta(spec.base, n_pairs);
      apply_longrope(spec, n_pairs, seq_len, out);
      break;
  }
  return out;
}

}  // namespace longctx::rope
