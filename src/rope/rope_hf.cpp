// Hugging Face config.json <-> RopeSpec (semantics in rope_hf.h and docs/rope.md).
#include "rope/rope_hf.h"

#include <cmath>

#include "core/error.h"

namespace longctx::rope {

using nlohmann::json;

namespace {

// Number at `obj[key]`, or nullptr-equivalent (nan) when absent or null. Non-numbers throw.
bool get_number(const json& obj, const char* key, double* out, const char* where) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  LONGCTX_CHECK(it->is_number(), "Hugging Face config: '%s%s' must be a number, got %s", where, key,
                it->dump().c_str());
  *out = it->get<double>();
  return true;
}

double require_number(const json& obj, const char* key, const char* where, const char* rope_type) {
  double v = 0;
  LONGCTX_CHECK(get_number(obj, key, &v, where), "Hugging Face config: rope_type '%s' needs '%s%s'", rope_type, where,
                key);
  return v;
}

std::vector<double> get_list(const json& obj, const char* key, const char* where) {
  auto it = obj.find(key);
  LONGCTX_CHECK(it != obj.end() && it->is_array(), "Hugging Face config: longrope needs list '%s%s'", where, key);
  std::vector<double> out;
  for (const json& v : *it) {
    LONGCTX_CHECK(v.is_number(), "Hugging Face config: '%s%s' entries must be numbers", where, key);
    out.push_back(v.get<double>());
  }
  return out;
}

// Head dimension as Hugging Face derives it (head_dim, else hidden_size / num_attention_heads).
int hf_head_dim(const json& config) {
  double hd = 0, hidden = 0, heads = 0;
  if (get_number(config, "head_dim", &hd, "")) return static_cast<int>(hd);
  LONGCTX_CHECK(get_number(config, "hidden_size", &hidden, "") && get_number(config, "num_attention_heads", &heads, ""),
                "Hugging Face config: need 'head_dim' or 'hidden_size' and 'num_attention_heads' to export ntk");
  return static_cast<int>(hidden) / static_cast<int>(heads);
}

}  // namespace

// rope_type prefix for kinds only longctx implements (xpos, truncation).
constexpr const char* kLongctxTypePrefix = "longctx_";

RopeSpec rope_from_hf_config(const json& config) {
  LONGCTX_CHECK(config.is_object(), "Hugging Face config: expected a JSON object");
  // Pick the parameter dict and how its keys are named in messages.
  json params = json::object();
  std::string where = "rope_scaling.";
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    params = config["rope_parameters"];
    where = "rope_parameters.";
    if (params.contains("full_attention") && params["full_attention"].is_object()) {
      params = params["full_attention"];
      where = "rope_parameters.full_attention.";
    }
  } else if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) {
    params = config["rope_scaling"];
  }
  const char* w = where.c_str();

  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    auto it = params.find(key);
    if (it != params.end() && !it->is_null()) {
      LONGCTX_CHECK(it->is_string(), "Hugging Face config: '%s%s' must be a string", w, key);
      type = it->get<std::string>();
      break;
    }
  }

  double base = 10000.0;
  if (!get_number(params, "rope_theta", &base, w)) get_number(config, "rope_theta", &base, "");
  double partial = 1.0;
  if (!get_number(params, "partial_rotary_factor", &partial, w))
    get_number(config, "partial_rotary_factor", &partial, "");
  double max_pos = 0;
  const bool has_max_pos = get_number(config, "max_position_embeddings", &max_pos, "");
  // Original (pre-extension) context: top-level field first (HF gives it priority), then the dict's.
  double original = 0;
  bool has_original = get_number(config, "original_max_position_embeddings", &original, "");
  const bool top_level_original = has_original;
  if (!has_original) has_original = get_number(params, "original_max_position_embeddings", &original, w);
  auto original_or_max_pos = [&](const char* t) {
    if (has_original) return original;
    LONGCTX_CHECK(has_max_pos, "Hugging Face config: rope_type '%s' needs '%soriginal_max_position_embeddings' or "
                  "'max_position_embeddings'", t, w);
    return max_pos;
  };

  RopeSpec spec;
  spec.base = base;
  spec.partial_rotary = partial;
  if (type == "default") {
    spec.kind = base == 10000.0 ? RopeKind::kDefault : RopeKind::kAbf;
  } else if (type == "linear") {
    spec.kind = RopeKind::kLinear;
    spec.params["factor"] = require_number(params, "factor", w, "linear");
  } else if (type == "dynamic") {
    spec.kind = RopeKind::kDynamic;
    spec.params["factor"] = require_number(params, "factor", w, "dynamic");
    // HF's dynamic NTK measures growth against max_position_embeddings.
    LONGCTX_CHECK(has_max_pos, "Hugging Face config: rope_type 'dynamic' needs 'max_position_embeddings'");
    spec.params["original"] = max_pos;
  } else if (type == "yarn") {
    spec.kind = RopeKind::kYarn;
    spec.params["original"] = original_or_max_pos("yarn");
    double factor = 0;
    if (!get_number(params, "factor", &factor, w)) {
      LONGCTX_CHECK(has_max_pos && has_original, "Hugging Face config: rope_type 'yarn' needs '%sfactor'", w);
      factor = max_pos / original;
    }
    spec.params["factor"] = factor;
    double v = 0;
    // HF uses `get(...) or default`: a 0 or null beta means the default.
    if (get_number(params, "beta_fast", &v, w) && v != 0) spec.params["beta_fast"] = v;
    if (get_number(params, "beta_slow", &v, w) && v != 0) spec.params["beta_slow"] = v;
    if (get_number(params, "attention_factor", &v, w)) spec.params["attention_factor"] = v;
    double mscale = 0, mscale_all = 0;
    // HF takes the mscale ratio only when both are present and non-zero.
    if (get_number(params, "mscale", &mscale, w) && get_number(params, "mscale_all_dim", &mscale_all, w) &&
        mscale != 0 && mscale_all != 0) {
      spec.params["mscale"] = mscale;
      spec.params["mscale_all_dim"] = mscale_all;
    }
    auto it = params.find("truncate");
    if (it != params.end() && !it->is_null()) {
      LONGCTX_CHECK(it->is_boolean(), "Hugging Face config: '%struncate' must be true or false", w);
      if (!it->get<bool>()) spec.params["truncate"] = 0.0;
    }
  } else if (type == "longrope" || type == "su") {
    spec.kind = RopeKind::kLongRope;
    spec.params["original"] = original_or_max_pos("longrope");
    spec.short_factor = get_list(params, "short_factor", w);
    spec.long_factor = get_list(params, "long_factor", w);
    double factor = 0, v = 0;
    if (get_number(params, "factor", &factor, w) && !top_level_original) {
      spec.params["factor"] = factor;
    } else if (has_max_pos && has_original) {
      // Phi-3 style: the scale is max_position_embeddings / original_max_position_embeddings.
      spec.params["factor"] = max_pos / original;
    } else if (get_number(params, "factor", &factor, w)) {
      spec.params["factor"] = factor;
    }
    if (get_number(params, "attention_factor", &v, w)) spec.params["attention_factor"] = v;
    if (!spec.params.count("factor") && !spec.params.count("attention_factor")) spec.params["factor"] = 1.0;
  } else if (type == "llama3") {
    spec.kind = RopeKind::kLlama3;
    spec.params["factor"] = require_number(params, "factor", w, "llama3");
    spec.params["low_freq_factor"] = require_number(params, "low_freq_factor", w, "llama3");
    spec.params["high_freq_factor"] = require_number(params, "high_freq_factor", w, "llama3");
    spec.params["original"] = original_or_max_pos("llama3");
  } else if (type.rfind(kLongctxTypePrefix, 0) == 0) {
    // Written by rope_to_hf_config for kinds transformers cannot express (xpos, truncation).
    auto it = params.find("longctx_spec");
    LONGCTX_CHECK(it != params.end() && it->is_string(),
                  "Hugging Face config: rope_type '%s' needs the string '%slongctx_spec'", type.c_str(), w);
    try {
      spec = parse_rope_spec(it->get<std::string>());
    } catch (const Error& e) {
      throw e.with_context(std::string("Hugging Face config: ") + w + "longctx_spec");
    }
    LONGCTX_CHECK(type == std::string(kLongctxTypePrefix) + rope_kind_name(spec.kind),
                  "Hugging Face config: rope_type '%s' disagrees with %slongctx_spec '%s'", type.c_str(), w,
                  it->get<std::string>().c_str());
  } else {
    throw_error("Hugging Face config: '%srope_type' '%s' is not supported (known: default, linear, dynamic, yarn, "
                "longrope, llama3, and longctx's own longctx_xpos, longctx_truncation)",
                w, type.c_str());
  }
  try {
    validate_rope_spec(spec);
  } catch (const Error& e) {
    throw e.with_context("Hugging Face config");
  }
  return spec;
}

void rope_to_hf_config(const RopeSpec& spec, json& config) {
  validate_rope_spec(spec);
  LONGCTX_CHECK(config.is_object() || config.is_null(), "Hugging Face config: expected a JSON object");
  double base = spec.base;
  json scaling = json::object();
  auto put = [&](const char* key, const std::string& param) {
    if (has_rope_param(spec, param)) scaling[key] = spec.params.at(param);
  };
  auto put_int = [&](const char* key, double v) {
    if (v == std::trunc(v)) scaling[key] = static_cast<int64_t>(v);
    else scaling[key] = v;
  };
  std::string type = "default";
  switch (spec.kind) {
    case RopeKind::kDefault:
    case RopeKind::kAbf:
      break;
    case RopeKind::kNtk: {
      // Static NTK has no rope_type; the same frequencies come from the adjusted base.
      const int d = 2 * rotated_pairs(spec, hf_head_dim(config));
      base = spec.base * std::pow(rope_param(spec, "factor"), d / (d - 2.0));
      break;
    }
    case RopeKind::kLinear:
      type = "linear";
      put("factor", "factor");
      break;
    case RopeKind::kDynamic: {
      type = "dynamic";
      put("factor", "factor");
      const double original = rope_param(spec, "original");
      double max_pos = 0;
      if (get_number(config, "max_position_embeddings", &max_pos, "")) {
        LONGCTX_CHECK(max_pos == original,
                      "Hugging Face config: dynamic NTK measures growth against max_position_embeddings (%g), which "
                      "differs from the spec's original=%g; set max_position_embeddings to the original context",
                      max_pos, original);
      } else {
        config["max_position_embeddings"] = static_cast<int64_t>(original);
      }
      break;
    }
    case RopeKind::kYarn:
      type = "yarn";
      put("factor", "factor");
      put_int("original_max_position_embeddings", rope_param(spec, "original"));
      put("beta_fast", "beta_fast");
      put("beta_slow", "beta_slow");
      put("attention_factor", "attention_factor");
      put("mscale", "mscale");
      put("mscale_all_dim", "mscale_all_dim");
      if (rope_param(spec, "truncate") == 0.0) scaling["truncate"] = false;
      break;
    case RopeKind::kLlama3:
      type = "llama3";
      scaling["factor"] = rope_param(spec, "factor");
      scaling["low_freq_factor"] = rope_param(spec, "low_freq_factor");
      scaling["high_freq_factor"] = rope_param(spec, "high_freq_factor");
      put_int("original_max_position_embeddings", rope_param(spec, "original"));
      break;
    case RopeKind::kLongRope:
      type = "longrope";
      scaling["short_factor"] = spec.short_factor;
      scaling["long_factor"] = spec.long_factor;
      put_int("original_max_position_embeddings", rope_param(spec, "original"));
      put("factor", "factor");
      put("attention_factor", "attention_factor");
      // A top-level original (Phi-3 style) would take priority on import: keep it in step.
      if (config.contains("original_max_position_embeddings"))
        config["original_max_position_embeddings"] = static_cast<int64_t>(rope_param(spec, "original"));
      break;
    case RopeKind::kXpos:
    case RopeKind::kTruncation:
      // transformers has no rope_type for these. A type of longctx's own makes transformers
      // stop with an unknown-type error instead of silently running plain RoPE; longctx
      // reads the exact spec back from longctx_spec.
      type = std::string(kLongctxTypePrefix) + rope_kind_name(spec.kind);
      for (const auto& [key, value] : spec.params) scaling[key] = value;
      scaling["longctx_spec"] = format_rope_spec(spec);
      break;
  }
  if (spec.kind == RopeKind::kYarn || spec.kind == RopeKind::kLlama3) {
    if (config.contains("original_max_position_embeddings"))
      config["original_max_position_embeddings"] = static_cast<int64_t>(rope_param(spec, "original"));
  }

  if (config.contains("rope_parameters")) {
    // Newer form: everything inside rope_parameters.
    json params = scaling;
    params["rope_type"] = type;
    params["rope_theta"] = base;
    if (spec.partial_rotary != 1.0) params["partial_rotary_factor"] = spec.partial_rotary;
    config["rope_parameters"] = params;
    config.erase("rope_scaling");
    config.erase("rope_theta");
  } else {
    config["rope_theta"] = base;
    if (type == "default") {
      config["rope_scaling"] = nullptr;
    } else {
      scaling["rope_type"] = type;
      scaling["type"] = type;  // older transformers read this spelling
      config["rope_scaling"] = scaling;
    }
  }
  if (spec.partial_rotary != 1.0) config["partial_rotary_factor"] = spec.partial_rotary;
  else config.erase("partial_rotary_factor");
}

}  // namespace longctx::rope
