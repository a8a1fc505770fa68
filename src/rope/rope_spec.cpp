// RopeSpec text form, validation and the table of kinds/keys/defaults.
#include "rope/rope_spec.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace longctx::rope {

namespace {

constexpr double kRequired = std::numeric_limits<double>::quiet_NaN();

struct KeyInfo {
  const char* name;
  double default_value;  // kRequired (NaN) when the key must be given
  const char* help;
};

struct KindInfo {
  RopeKind kind;
  const char* name;
  const char* formula;
  std::vector<KeyInfo> keys;  // besides the common `base` and `partial`
};

const std::vector<KindInfo>& kind_table() {
  static const std::vector<KindInfo> table = {
      {RopeKind::kDefault, "default", "RoPE (RoFormer): theta_j = b^(-2j/d)", {}},
      {RopeKind::kAbf, "abf", "RoPE ABF (LLaMA 2 Long): theta_j = b^(-2j/d) with a larger base", {}},
      {RopeKind::kLinear, "linear", "position interpolation (PI): theta_j = b^(-2j/d) / factor",
       {{"factor", kRequired, "s = L_new / L_old (positions divided by s)"}}},
      {RopeKind::kNtk, "ntk", "static NTK-aware: b' = b * factor^(d/(d-2))",
       {{"factor", kRequired, "s = L_new / L_old"}}},
      {RopeKind::kDynamic, "dynamic",
       "dynamic NTK (HF): b' = b * (factor*l/original - (factor-1))^(d/(d-2)), l = max(seq_len, original)",
       {{"factor", kRequired, "s"}, {"original", kRequired, "original context length L_old (tokens)"}}},
      {RopeKind::kYarn, "yarn",
       "YaRN (HF ramp over pair index, floor/ceil correction range); cos,sin *= 0.1 ln s + 1",
       {{"factor", kRequired, "s = L_new / L_old"},
        {"original", kRequired, "original context length L_old (tokens)"},
        {"beta_fast", 32, "rotations where the ramp starts (high frequencies kept)"},
        {"beta_slow", 1, "rotations where the ramp ends (low frequencies interpolated)"},
        {"attention_factor", kRequired, "temperature on cos/sin (default 0.1 ln s + 1, or mscale ratio)"},
        {"mscale", kRequired, "DeepSeek mscale (with mscale_all_dim)"},
        {"mscale_all_dim", kRequired, "DeepSeek mscale_all_dim"},
        {"truncate", 1, "1: floor/ceil the correction range (HF default); 0: keep it fractional"}}},
      {RopeKind::kLlama3, "llama3",
       "Llama 3: wavelength < original/high kept, > original/low divided by factor, smooth between",
       {{"factor", 8, "divisor for low frequencies"},
        {"low_freq_factor", 1, ""},
        {"high_freq_factor", 4, ""},
        {"original", 8192, "original context length (tokens)"}}},
      {RopeKind::kXpos, "xpos",
       "xPos: RoPE plus per-pair decay zeta_j = (2j + gamma d)/((1+gamma) d), q*zeta^(t/scale_base), k*zeta^(-t/scale_base)",
       {{"gamma", 0.4, ""}, {"scale_base", 512, "tokens"}}},
      {RopeKind::kTruncation, "truncation",
       "Giraffe truncated basis: b_cut = 2 pi / wavelength; theta >= b_cut kept, [low*b_cut, b_cut) -> rho*b_cut, "
       "below -> 0",
       {{"wavelength", kRequired, "cut-off wavelength (tokens)"},
        {"low", 0.125, "fraction of b_cut below which theta is set to 0"},
        {"rho", 0.0625, "fixed frequency for the middle band, as a fraction of b_cut"}}},
      {RopeKind::kLongRope, "longrope",
       "LongRoPE: theta_j = b^(-2j/d) / f_j, f = long if seq_len > original else short; "
       "cos,sin *= sqrt(1 + ln s / ln original)",
       {{"original", kRequired, "original context length (tokens)"},
        {"factor", kRequired, "s = L_new / L_old (for the default attention factor)"},
        {"attention_factor", kRequired, "temperature on cos/sin (overrides the default)"}}},
  };
  return table;
}

const KindInfo& kind_info(RopeKind kind) {
  for (const KindInfo& k : kind_table())
    if (k.kind == kind) return k;
  throw_error("rope: invalid RopeKind value %d", static_cast<int>(kind));
}

const KeyInfo* find_key(const KindInfo& info, std::string_view key) {
  for (const KeyInfo& k : info.keys)
    if (key == k.name) return &k;
  return nullptr;
}

std::string key_list(const KindInfo& info) {
  std::string s = "base, partial";
  for (const KeyInfo& k : info.keys) s += std::string(", ") + k.name;
  if (info.kind == RopeKind::kLongRope) s += ", short, long";
  return s;
}

// Shortest text that parses back to the same double.
std::string format_double(double v) {
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return strformat("%.0f", v);  // 500000, not 5e+05
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

double parse_double(std::string_view text, std::string_view key, std::string_view whole) {
  double v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto res = std::from_chars(first, last, v);
  if (res.ec != std::errc() || res.ptr != last || text.empty() || !std::isfinite(v))
    throw_error("rope spec '%.*s': key '%.*s': '%.*s' is not a number", int(whole.size()), whole.data(),
                int(key.size()), key.data(), int(text.size()), text.data());
  return v;
}

std::vector<double> parse_list(std::string_view text, std::string_view key, std::string_view whole) {
  std::vector<double> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(parse_double(text.substr(start, end - start), key, whole));
    start = end + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

const char* rope_kind_name(RopeKind kind) { return kind_info(kind).name; }

RopeKind rope_kind_from_name(std::string_view name) {
  for (const KindInfo& k : kind_table())
    if (name == k.name) return k.kind;
  std::string names;
  for (const KindInfo& k : kind_table()) names += std::string(names.empty() ? "" : ", ") + k.name;
  throw_error("rope: unknown kind '%.*s' (known: %s)", int(name.size()), name.data(), names.c_str());
}

std::vector<RopeKind> all_rope_kinds() {
  std::vector<RopeKind> out;
  for (const KindInfo& k : kind_table()) out.push_back(k.kind);
  return out;
}

double default_base(RopeKind kind) { return kind == RopeKind::kAbf ? 500000.0 : 10000.0; }

RopeSpec make_rope_spec(RopeKind kind) {
  RopeSpec s;
  s.kind = kind;
  s.base = default_base(kind);
  return s;
}

bool has_rope_param(const RopeSpec& spec, const std::string& key) { return spec.params.count(key) > 0; }

double rope_param(const RopeSpec& spec, const std::string& key) {
  auto it = spec.params.find(key);
  if (it != spec.params.end()) return it->second;
  const KindInfo& info = kind_info(spec.kind);
  const KeyInfo* k = find_key(info, key);
  LONGCTX_CHECK(k != nullptr, "rope %s: '%s' is not a key of this kind (keys: %s)", info.name, key.c_str(),
                key_list(info).c_str());
  LONGCTX_CHECK(!std::isnan(k->default_value), "rope %s: missing required key '%s' (%s)", info.name, key.c_str(),
                k->help);
  return k->default_value;
}

void validate_rope_spec(const RopeSpec& spec) {
  const KindInfo& info = kind_info(spec.kind);
  const char* kn = info.name;
  LONGCTX_CHECK(std::isfinite(spec.base) && spec.base > 1.0, "rope %s: 'base' must be > 1, got %g", kn, spec.base);
  LONGCTX_CHECK(spec.partial_rotary > 0.0 && spec.partial_rotary <= 1.0,
                "rope %s: 'partial' (rotary fraction) must be in (0, 1], got %g", kn, spec.partial_rotary);
  for (const auto& [key, value] : spec.params) {
    LONGCTX_CHECK(find_key(info, key) != nullptr, "rope %s: unknown key '%s' (keys: %s)", kn, key.c_str(),
                  key_list(info).c_str());
    LONGCTX_CHECK(std::isfinite(value), "rope %s: key '%s' is not finite", kn, key.c_str());
  }
  for (const KeyInfo& k : info.keys) {
    const std::string name = k.name;
    const bool given = has_rope_param(spec, name);
    if (name == "factor" || name == "original" || name == "wavelength" || name == "scale_base" ||
        name == "beta_fast" || name == "attention_factor" || name == "mscale" || name == "mscale_all_dim" ||
        name == "low_freq_factor" || name == "high_freq_factor" || name == "gamma" || name == "low" ||
        name == "rho") {
      if (given)
        LONGCTX_CHECK(spec.params.at(name) > 0, "rope %s: '%s' must be > 0, got %g", kn, k.name,
                      spec.params.at(name));
    }
    if (name == "beta_slow" && given)
      LONGCTX_CHECK(spec.params.at(name) > 0, "rope %s: 'beta_slow' must be > 0", kn);
    if (name == "truncate" && given) {
      const double t = spec.params.at(name);
      LONGCTX_CHECK(t == 0 || t == 1, "rope %s: 'truncate' must be 0 or 1, got %g", kn, t);
    }
    const bool required = std::isnan(k.default_value) && name != "attention_factor" && name != "mscale" &&
                          name != "mscale_all_dim" && !(spec.kind == RopeKind::kLongRope && name == "factor");
    LONGCTX_CHECK(!required || given, "rope %s: missing required key '%s' (%s)", kn, k.name, k.help);
  }
  if (spec.kind == RopeKind::kLlama3)
    LONGCTX_CHECK(rope_param(spec, "high_freq_factor") > rope_param(spec, "low_freq_factor"),
                  "rope llama3: 'high_freq_factor' must exceed 'low_freq_factor'");
  if (spec.kind == RopeKind::kYarn)
    LONGCTX_CHECK(rope_param(spec, "beta_fast") > rope_param(spec, "beta_slow"),
                  "rope yarn: 'beta_fast' must exceed 'beta_slow'");
  if (spec.kind == RopeKind::kTruncation)
    LONGCTX_CHECK(rope_param(spec, "low") < 1.0, "rope truncation: 'low' must be < 1");
  if (spec.kind == RopeKind::kLongRope) {
    LONGCTX_CHECK(!spec.short_factor.empty(), "rope longrope: missing required list 'short'");
    LONGCTX_CHECK(!spec.long_factor.empty(), "rope longrope: missing required list 'long'");
    LONGCTX_CHECK(has_rope_param(spec, "factor") || has_rope_param(spec, "attention_factor"),
                  "rope longrope: give 'factor' (L_new/L_old) or 'attention_factor'");
    for (double f : spec.short_factor) LONGCTX_CHECK(f > 0, "rope longrope: 'short' entries must be > 0");
    for (double f : spec.long_factor) LONGCTX_CHECK(f > 0, "rope longrope: 'long' entries must be > 0");
  } else {
    LONGCTX_CHECK(spec.short_factor.empty() && spec.long_factor.empty(),
                  "rope %s: 'short'/'long' lists only apply to longrope", kn);
  }
}

int rotated_pairs(const RopeSpec& spec, int head_dim) {
  LONGCTX_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope: 'head_dim' must be positive and even, got %d", head_dim);
  LONGCTX_CHECK(spec.partial_rotary > 0.0 && spec.partial_rotary <= 1.0,
                "rope: 'partial' (rotary fraction) must be in (0, 1], got %g", spec.partial_rotary);
  // Same rounding as Hugging Face: int(head_dim * partial_rotary_factor).
  const int rot = static_cast<int>(head_dim * spec.partial_rotary + 1e-9);
  LONGCTX_CHECK(rot >= 2 && rot % 2 == 0,
                "rope: 'partial' %g of head_dim %d gives %d rotated dims; need an even number >= 2",
                spec.partial_rotary, head_dim, rot);
  return rot / 2;
}

RopeSpec parse_rope_spec(std::string_view text) {
  const std::string_view whole = text;
  text = trim(text);
  LONGCTX_CHECK(!text.empty(), "rope spec: empty (expected kind[:key=value,...]; see --help)");
  const size_t colon = text.find(':');
  const std::string_view kind_name = trim(text.substr(0, colon));
  RopeSpec spec;
  try {
    spec = make_rope_spec(rope_kind_from_name(kind_name));
  } catch (const Error& e) {
    throw e.with_context(strformat("rope spec '%.*s'", int(whole.size()), whole.data()));
  }
  if (colon != std::string_view::npos) {
    std::string_view rest = text.substr(colon + 1);
    size_t start = 0;
    while (start <= rest.size()) {
      size_t end = rest.find(',', start);
      if (end == std::string_view::npos) end = rest.size();
      const std::string_view item = trim(rest.substr(start, end - start));
      start = end + 1;
      if (item.empty()) continue;
      const size_t eq = item.find('=');
      LONGCTX_CHECK(eq != std::string_view::npos, "rope spec '%.*s': '%.*s' is not key=value", int(whole.size()),
                    whole.data(), int(item.size()), item.data());
      const std::string key(trim(item.substr(0, eq)));
      const std::string_view value = trim(item.substr(eq + 1));
      if (key == "short" || key == "long") {
        LONGCTX_CHECK(spec.kind == RopeKind::kLongRope, "rope spec '%.*s': list key '%s' only applies to longrope",
                      int(whole.size()), whole.data(), key.c_str());
        (key == "short" ? spec.short_factor : spec.long_factor) = parse_list(value, key, whole);
      } else if (key == "base") {
        spec.base = parse_double(value, key, whole);
      } else if (key == "partial") {
        spec.partial_rotary = parse_double(value, key, whole);
      } else {
        const KindInfo& info = kind_info(spec.kind);
        LONGCTX_CHECK(find_key(info, key) != nullptr, "rope spec '%.*s': unknown key '%s' for kind %s (keys: %s)",
                      int(whole.size()), whole.data(), key.c_str(), info.name, key_list(info).c_str());
        spec.params[key] = parse_double(value, key, whole);
      }
    }
  }
  try {
    validate_rope_spec(spec);
  } catch (const Error& e) {
    throw e.with_context(strformat("rope spec '%.*s'", int(whole.size()), whole.data()));
  }
  return spec;
}

std::string format_rope_spec(const RopeSpec& spec) {
  std::string out = rope_kind_name(spec.kind);
  std::vector<std::string> items;
  if (spec.base != default_base(spec.kind)) items.push_back("base=" + format_double(spec.base));
  for (const auto& [key, value] : spec.params) items.push_back(key + "=" + format_double(value));
  if (spec.partial_rotary != 1.0) items.push_back("partial=" + format_double(spec.partial_rotary));
  auto list = [](const char* key, const std::vector<double>& v) {
    std::string s = std::string(key) + "=";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ";";
      s += format_double(v[i]);
    }
    return s;
  };
  if (!spec.short_factor.empty()) items.push_back(list("short", spec.short_factor));
  if (!spec.long_factor.empty()) items.push_back(list("long", spec.long_factor));
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : ":") + items[i];
  return out;
}

std::string rope_spec_help() {
  std::string s =
      "Position encoding, as kind[:key=value,...]; LongRoPE lists separate values with ';'.\n"
      "Every kind takes base=<b> (default 10000; abf: 500000) and partial=<fraction of head_dim rotated, (0,1]>.\n"
      "Examples: abf:base=500000  linear:factor=4  yarn:factor=8,original=4096  xpos:base=500000\n"
      "          longrope:original=4096,factor=8,short=1;1.1;...,long=1;2;... (one entry per rotated pair)\n"
      "Kinds:\n";
  for (const KindInfo& k : kind_table()) {
    s += strformat("  %-10s %s\n", k.name, k.formula);
    for (const KeyInfo& key : k.keys) {
      const std::string def = std::isnan(key.default_value)
                                  ? (std::string(key.name) == "attention_factor" || std::string(key.name) == "mscale" ||
                                             std::string(key.name) == "mscale_all_dim"
                                         ? "optional"
                                         : "required")
                                  : "default " + format_double(key.default_value);
      s += strformat("      %-17s %s%s%s\n", key.name, def.c_str(), key.help[0] ? "; " : "", key.help);
    }
    if (k.kind == RopeKind::kLongRope)
      s += "      short, long       required; per-pair divisors, one per rotated pair\n";
  }
  return s;
}

}  // namespace longctx::rope
