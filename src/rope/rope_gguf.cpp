// GGUF (llama.cpp) metadata <-> RopeSpec (semantics in rope_gguf.h and docs/rope.md).
//
// llama.cpp's effective YaRN temperature (llama-context.cpp): get_mscale(s) = 0.1 ln s + 1, or
// the DeepSeek ratio when yarn_log_multiplier is set, times <arch>.rope.scaling.attn_factor
// (default 1). It overwrites yarn_attn_factor for YaRN, so that key carries no information for
// llama.cpp; we therefore express an explicit attention factor A as scaling.attn_factor =
// A / (0.1 ln s + 1), and read it back the same way.
#include "rope/rope_gguf.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace longctx::rope {

namespace {

constexpr double kPi = 3.14159265358979323846;

double yarn_mscale(double s, double m) { return s <= 1.0 ? 1.0 : 0.1 * m * std::log(s) + 1.0; }

struct KvReader {
  const GgufKv& kv;
  std::string prefix;  // "<arch>.rope."

  const GgufScalar* find(const std::string& key) const {
    auto it = kv.find(key);
    return it == kv.end() ? nullptr : &it->second;
  }
  bool number(const std::string& key, double* out) const {
    const GgufScalar* v = find(key);
    if (!v) return false;
    if (auto* i = std::get_if<int64_t>(v)) *out = static_cast<double>(*i);
    else if (auto* d = std::get_if<double>(v)) *out = *d;
    else throw_error("GGUF: key '%s' must be a number", key.c_str());
    return true;
  }
  bool rope_number(const char* key, double* out) const { return number(prefix + key, out); }
  std::string rope_string(const char* key) const {
    const GgufScalar* v = find(prefix + key);
    if (!v) return "";
    auto* s = std::get_if<std::string>(v);
    LONGCTX_CHECK(s != nullptr, "GGUF: key '%s%s' must be a string", prefix.c_str(), key);
    return *s;
  }
};

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Tries to recognise llama.cpp's Llama 3 frequency-factor tensor (divisors f_j): 1 for
// short wavelengths, `factor` for long ones, 1 / ((1 - s)/factor + s) between, with
// s = (L/wavelen - low)/(high - low). Only L/(high-low) and low/(high-low) are identifiable,
// so low_freq_factor is taken as 1 (every published Llama 3.x uses it).
bool fit_llama3(const std::vector<double>& f, double base, int n_pairs, RopeSpec* out) {
  const double factor = *std::max_element(f.begin(), f.end());
  if (!(factor > 1.0)) return false;
  const double d = 2.0 * n_pairs;
  std::vector<std::pair<double, double>> mid;  // (theta_j, s_j) for transitional pairs
  for (int j = 0; j < n_pairs; ++j) {
    if (f[j] > 1.0 + 1e-5 && f[j] < factor * (1.0 - 1e-5)) {
      const double s = (1.0 / f[j] - 1.0 / factor) / (1.0 - 1.0 / factor);
      mid.emplace_back(std::pow(base, -2.0 * j / d), s);
    }
  }
  RopeSpec spec = make_rope_spec(RopeKind::kLlama3);
  spec.base = base;
  spec.params["factor"] = factor;
  if (mid.size() >= 2) {
    // s = A * theta - B with A = L / (2 pi (high - low)), B = low / (high - low), low = 1.
    const auto& [t0, s0] = mid.front();
    const auto& [t1, s1] = mid.back();
    const double a = (s1 - s0) / (t1 - t0);
    const double b = a * t0 - s0;
    if (!(a > 0 && b > 0)) return false;
    double high = 1.0 + 1.0 / b;
    double original = 2.0 * kPi * a / b;
    if (std::fabs(high - std::round(high * 64) / 64) < 1e-3) high = std::round(high * 64) / 64;
    original = std::round(original);
    spec.params["low_freq_factor"] = 1.0;
    spec.params["high_freq_factor"] = high;
    spec.params["original"] = original;
  } else {
    spec.params["low_freq_factor"] = 1.0;
    spec.params["high_freq_factor"] = 4.0;
    spec.params["original"] = 8192.0;  // the published Llama 3.1 values; verified below
  }
  try {
    auto fitted = rope_frequencies(spec, static_cast<int>(d), 1);
    for (int j = 0; j < n_pairs; ++j) {
      const double want = std::pow(base, -2.0 * j / d) / f[j];
      if (std::fabs(fitted.theta[j] - want) > 1e-5 * want) return false;
    }
  } catch (const Error&) {
    return false;
  }
  *out = spec;
  return true;
}

}  // namespace

GgufRope rope_to_gguf(const RopeSpec& spec, int head_dim, int64_t context_length) {
  validate_rope_spec(spec);
  const char* kn = rope_kind_name(spec.kind);
  LONGCTX_CHECK(spec.kind != RopeKind::kXpos && spec.kind != RopeKind::kTruncation,
                "GGUF cannot express RoPE kind '%s' (llama.cpp has no such scaling); refusing to write lossy metadata",
                kn);
  LONGCTX_CHECK(spec.kind != RopeKind::kDynamic,
                "GGUF cannot express RoPE kind 'dynamic' (llama.cpp has no dynamic NTK); refusing to write lossy "
                "metadata");
  const int n_pairs = rotated_pairs(spec, head_dim);
  const int d = 2 * n_pairs;
  GgufRope out;
  const std::string p = "llama.rope.";
  double base = spec.base;
  if (spec.kind == RopeKind::kNtk) base = spec.base * std::pow(rope_param(spec, "factor"), d / (d - 2.0));
  out.kv[p + "freq_base"] = base;
  out.kv[p + "dimension_count"] = static_cast<int64_t>(d);
  if (context_length > 0) out.kv["llama.context_length"] = context_length;
  switch (spec.kind) {
    case RopeKind::kDefault:
    case RopeKind::kAbf:
    case RopeKind::kNtk:
      out.kv[p + "scaling.type"] = std::string("none");
      break;
    case RopeKind::kLinear:
      out.kv[p + "scaling.type"] = std::string("linear");
      out.kv[p + "scaling.factor"] = rope_param(spec, "factor");
      break;
    case RopeKind::kYarn: {
      LONGCTX_CHECK(rope_param(spec, "truncate") != 0.0,
                    "GGUF cannot express yarn with truncate=0 (llama.cpp always rounds the correction range)");
      const double s = rope_param(spec, "factor");
      out.kv[p + "scaling.type"] = std::string("yarn");
      out.kv[p + "scaling.factor"] = s;
      out.kv[p + "scaling.original_context_length"] = static_cast<int64_t>(rope_param(spec, "original"));
      out.kv[p + "scaling.yarn_beta_fast"] = rope_param(spec, "beta_fast");
      out.kv[p + "scaling.yarn_beta_slow"] = rope_param(spec, "beta_slow");
      const double total = rope_frequencies(spec, head_dim, 1).attention_factor;
      const double implicit = yarn_mscale(s, 1.0);
      if (std::fabs(total - implicit) > 1e-15 * implicit) out.kv[p + "scaling.attn_factor"] = total / implicit;
      break;
    }
    case RopeKind::kLlama3: {
      // Written the way convert_hf_to_gguf does: no scaling type, per-pair divisors in rope_freqs.
      out.kv[p + "scaling.type"] = std::string("none");
      const auto scaled = rope_frequencies(spec, head_dim, 1);
      out.rope_freqs.resize(static_cast<size_t>(n_pairs));
      for (int j = 0; j < n_pairs; ++j)
        out.rope_freqs[j] = static_cast<float>(std::pow(spec.base, -2.0 * j / d) / scaled.theta[j]);
      break;
    }
    case RopeKind::kLongRope: {
      out.kv[p + "scaling.type"] = std::string("longrope");
      out.kv[p + "scaling.original_context_length"] = static_cast<int64_t>(rope_param(spec, "original"));
      out.kv[p + "scaling.attn_factor"] = rope_frequencies(spec, head_dim, 1).attention_factor;
      LONGCTX_CHECK(static_cast<int>(spec.short_factor.size()) == n_pairs &&
                        static_cast<int>(spec.long_factor.size()) == n_pairs,
                    "rope longrope: lists 'short'/'long' need %d entries (one per rotated pair)", n_pairs);
      out.rope_factors_short.assign(spec.short_factor.begin(), spec.short_factor.end());
      out.rope_factors_long.assign(spec.long_factor.begin(), spec.long_factor.end());
      break;
    }
    case RopeKind::kDynamic:
    case RopeKind::kXpos:
    case RopeKind::kTruncation:
      break;  // refused above
  }
  return out;
}

RopeSpec rope_from_gguf(const GgufRope& rope, int head_dim) {
  KvReader r{rope.kv, "llama.rope."};
  std::string arch = "llama";
  if (auto it = rope.kv.find("general.architecture"); it != rope.kv.end()) {
    auto* s = std::get_if<std::string>(&it->second);
    LONGCTX_CHECK(s != nullptr, "GGUF: key 'general.architecture' must be a string");
    arch = *s;
    r.prefix = arch + ".rope.";
  }
  const std::string& p = r.prefix;
  LONGCTX_CHECK(head_dim > 0 && head_dim % 2 == 0, "GGUF rope: 'head_dim' must be positive and even, got %d", head_dim);

  RopeSpec spec;
  double v = 0;
  spec.base = r.rope_number("freq_base", &v) ? v : 10000.0;
  if (r.rope_number("dimension_count", &v)) {
    LONGCTX_CHECK(v >= 2 && v <= head_dim && static_cast<int>(v) % 2 == 0,
                  "GGUF: '%sdimension_count' = %g must be even and in [2, head_dim=%d]", p.c_str(), v, head_dim);
    spec.partial_rotary = v / head_dim;
  }
  const int n_pairs = rotated_pairs(spec, head_dim);
  std::string type = r.rope_string("scaling.type");
  double factor = 0;
  const bool has_factor = r.rope_number("scaling.factor", &factor);
  double legacy = 0;
  if (type.empty() && r.rope_number("scale_linear", &legacy) && legacy != 1.0) {
    type = "linear";  // legacy key: llama.cpp reads it as the linear factor
    factor = legacy;
  } else if (type.empty()) {
    type = "none";
  }
  double original = 0;
  const bool has_original = r.rope_number("scaling.original_context_length", &original);
  double attn = 1.0;
  const bool has_attn = r.rope_number("scaling.attn_factor", &attn);

  if (type == "none") {
    spec.kind = spec.base == 10000.0 ? RopeKind::kDefault : RopeKind::kAbf;
    if (!rope.rope_freqs.empty()) {
      LONGCTX_CHECK(static_cast<int>(rope.rope_freqs.size()) == n_pairs,
                    "GGUF: tensor 'rope_freqs.weight' has %zu entries, need %d (one per rotated pair)",
                    rope.rope_freqs.size(), n_pairs);
      const std::vector<double> f = to_double(rope.rope_freqs);
      RopeSpec llama3;
      if (std::all_of(f.begin(), f.end(), [](double x) { return x == 1.0; })) {
        // all ones: plain RoPE
      } else if (fit_llama3(f, spec.base, n_pairs, &llama3)) {
        llama3.partial_rotary = spec.partial_rotary;
        spec = llama3;
      } else {
        // Arbitrary per-pair divisors: LongRoPE with equal lists expresses them exactly.
        double ctx = 0;
        LONGCTX_CHECK(r.number(arch + ".context_length", &ctx),
                      "GGUF: 'rope_freqs.weight' is not Llama 3 scaling and '%s.context_length' is missing",
                      arch.c_str());
        spec.kind = RopeKind::kLongRope;
        spec.params["original"] = ctx;
        spec.params["attention_factor"] = 1.0;
        spec.short_factor = f;
        spec.long_factor = f;
      }
    }
  } else if (type == "linear") {
    LONGCTX_CHECK(has_factor || legacy != 0, "GGUF: scaling.type linear needs '%sscaling.factor'", p.c_str());
    spec.kind = RopeKind::kLinear;
    spec.params["factor"] = factor;
  } else if (type == "yarn") {
    LONGCTX_CHECK(has_factor, "GGUF: scaling.type yarn needs '%sscaling.factor'", p.c_str());
    LONGCTX_CHECK(has_original, "GGUF: scaling.type yarn needs '%sscaling.original_context_length'", p.c_str());
    spec.kind = RopeKind::kYarn;
    spec.params["factor"] = factor;
    spec.params["original"] = original;
    if (r.rope_number("scaling.yarn_beta_fast", &v) && v != 32.0) spec.params["beta_fast"] = v;
    if (r.rope_number("scaling.yarn_beta_slow", &v) && v != 1.0) spec.params["beta_slow"] = v;
    if (r.rope_number("scaling.yarn_ext_factor", &v))
      LONGCTX_CHECK(v < 0 || v == 1.0,
                    "GGUF: '%sscaling.yarn_ext_factor' = %g (a partial YaRN blend) cannot be expressed; only 1 or "
                    "unset",
                    p.c_str(), v);
    double log_mul = 0;
    double mscale_term = yarn_mscale(factor, 1.0);
    if (r.rope_number("scaling.yarn_log_multiplier", &log_mul) && log_mul != 0.0) {
      // llama.cpp: mscale_all_dim = log_mul, mscale = 1 (DeepSeek 2: mscale = mscale_all_dim).
      const double mscale = arch == "deepseek2" ? log_mul : 1.0;
      mscale_term = yarn_mscale(factor, mscale) / yarn_mscale(factor, log_mul);
      spec.params["mscale"] = mscale;
      spec.params["mscale_all_dim"] = log_mul;
    }
    if (has_attn && attn != 1.0) {
      spec.params.erase("mscale");
      spec.params.erase("mscale_all_dim");
      spec.params["attention_factor"] = mscale_term * attn;
    }
  } else if (type == "longrope") {
    LONGCTX_CHECK(has_original, "GGUF: scaling.type longrope needs '%sscaling.original_context_length'", p.c_str());
    spec.kind = RopeKind::kLongRope;
    spec.params["original"] = original;
    const std::vector<float>& s = !rope.rope_factors_short.empty() ? rope.rope_factors_short : rope.rope_freqs;
    const std::vector<float>& l = !rope.rope_factors_long.empty() ? rope.rope_factors_long : rope.rope_freqs;
    LONGCTX_CHECK(!s.empty() && !l.empty(),
                  "GGUF: scaling.type longrope needs tensors 'rope_factors_short.weight'/'rope_factors_long.weight' "
                  "(or 'rope_freqs.weight')");
    spec.short_factor = to_double(s);
    spec.long_factor = to_double(l);
    double ctx = 0;
    if (has_attn) spec.params["attention_factor"] = attn;
    else if (r.number(arch + ".context_length", &ctx)) spec.params["factor"] = ctx / original;
    else spec.params["attention_factor"] = 1.0;
  } else {
    throw_error("GGUF: '%sscaling.type' '%s' is not supported (known: none, linear, yarn, longrope)", p.c_str(),
                type.c_str());
  }
  try {
    validate_rope_spec(spec);
    rope_frequencies(spec, head_dim, 1);  // list lengths
  } catch (const Error& e) {
    throw e.with_context("GGUF rope metadata");
  }
  return spec;
}

RopeSpec rope_from_gguf(const GgufKv& kv, const std::vector<float>* rope_freqs, int head_dim) {
  GgufRope rope;
  rope.kv = kv;
  if (rope_freqs) rope.rope_freqs = *rope_freqs;
  return rope_from_gguf(rope, head_dim);
}

}  // namespace longctx::rope
