// Hugging Face config.json and GGUF interchange, both ways.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "rope/rope_gguf.h"
#include "rope/rope_hf.h"

namespace longctx::rope {
namespace {

using nlohmann::json;
constexpr double kPi = 3.14159265358979323846;

void expect_error_contains(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Same table (theta, attention factor, xPos) at a short and a long sequence length.
void expect_same_table(const RopeSpec& a, const RopeSpec& b, int head_dim, double rel) {
  for (int64_t seq : {int64_t{1}, int64_t{1} << 20}) {
    auto fa = rope_frequencies(a, head_dim, seq);
    auto fb = rope_frequencies(b, head_dim, seq);
    ASSERT_EQ(fa.theta.size(), fb.theta.size());
    for (size_t j = 0; j < fa.theta.size(); ++j)
      EXPECT_NEAR(fa.theta[j], fb.theta[j], rel * fa.theta[j]) << format_rope_spec(a) << " j=" << j;
    EXPECT_NEAR(fa.attention_factor, fb.attention_factor, rel * fa.attention_factor) << format_rope_spec(a);
    EXPECT_EQ(fa.xpos_zeta, fb.xpos_zeta);
  }
}

std::vector<double> ramp_list(int n, double lo, double hi) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(lo + (hi - lo) * i / (n - 1));
  return v;
}

// ---------------- Hugging Face ----------------

TEST(RopeHf, ImportsPublishedConfigShapes) {
  // LLaMA 2: no rope_theta, rope_scaling null.
  RopeSpec s = rope_from_hf_config(json{{"max_position_embeddings", 4096}, {"rope_scaling", nullptr}});
  EXPECT_EQ(s, make_rope_spec(RopeKind::kDefault));
  // LLaMA 2 Long / ABF.
  s = rope_from_hf_config(json{{"rope_theta", 500000.0}});
  EXPECT_EQ(format_rope_spec(s), "abf");
  // Older spelling "type".
  s = rope_from_hf_config(json{{"rope_scaling", {{"type", "linear"}, {"factor", 4.0}}}});
  EXPECT_EQ(format_rope_spec(s), "linear:factor=4");
  // Dynamic NTK uses max_position_embeddings as the original length.
  s = rope_from_hf_config(json{{"max_position_embeddings", 4096}, {"rope_scaling", {{"type", "dynamic"}, {"factor", 2}}}});
  EXPECT_EQ(format_rope_spec(s), "dynamic:factor=2,original=4096");
  // Llama 3.1.
  s = rope_from_hf_config(json::parse(R"({"rope_theta": 500000.0, "max_position_embeddings": 131072,
      "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192, "rope_type": "llama3"}})"));
  EXPECT_EQ(s.kind, RopeKind::kLlama3);
  EXPECT_EQ(s.base, 500000.0);
  EXPECT_EQ(rope_param(s, "original"), 8192.0);
  EXPECT_EQ(rope_param(s, "factor"), 8.0);
  // Qwen-style YaRN, gpt-oss style truncate=false, beta 0 meaning default (HF `or`).
  s = rope_from_hf_config(json::parse(R"({"rope_theta": 1000000.0, "max_position_embeddings": 32768,
      "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
                       "beta_fast": 0, "truncate": false}})"));
  EXPECT_EQ(format_rope_spec(s), "yarn:base=1000000,factor=4,original=32768,truncate=0");
  // YaRN without factor: max_position_embeddings / original (newer transformers).
  s = rope_from_hf_config(json::parse(R"({"max_position_embeddings": 163840,
      "rope_scaling": {"rope_type": "yarn", "original_max_position_embeddings": 4096,
                       "mscale": 0.707, "mscale_all_dim": 0.707}})"));
  EXPECT_EQ(rope_param(s, "factor"), 40.0);
  EXPECT_EQ(rope_param(s, "mscale_all_dim"), 0.707);
  EXPECT_NEAR(rope_frequencies(s, 64, 1).attention_factor, 1.0, 1e-15);
  // HF only uses the mscale ratio when both are non-zero.
  s = rope_from_hf_config(json::parse(R"({"rope_scaling": {"rope_type": "yarn", "factor": 40,
      "original_max_position_embeddings": 4096, "mscale": 1.0, "mscale_all_dim": 0}})"));
  EXPECT_FALSE(has_rope_param(s, "mscale"));
  // Phi-3 LongRoPE: top-level original, factor = max / original, attention sqrt(1 + ln 32 / ln 4096).
  json phi3 = {{"max_position_embeddings", 131072}, {"original_max_position_embeddings", 4096},
               {"hidden_size", 3072}, {"num_attention_heads", 32}, {"partial_rotary_factor", 1.0},
               {"rope_scaling", {{"type", "longrope"}, {"short_factor", ramp_list(48, 1.0, 1.2)},
                                 {"long_factor", ramp_list(48, 1.0, 30.0)}}}};
  s = rope_from_hf_config(phi3);
  EXPECT_EQ(s.kind, RopeKind::kLongRope);
  EXPECT_EQ(rope_param(s, "factor"), 32.0);
  EXPECT_NEAR(rope_frequencies(s, 96, 1).attention_factor, std::sqrt(1.0 + std::log(32.0) / std::log(4096.0)), 1e-15);
  // Newer rope_parameters form with partial rotary inside, and the per-layer-type dict.
  s = rope_from_hf_config(json::parse(R"({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6,
      "factor": 4, "original_max_position_embeddings": 8192, "partial_rotary_factor": 0.5}})"));
  EXPECT_EQ(format_rope_spec(s), "yarn:base=1000000,factor=4,original=8192,partial=0.5");
  s = rope_from_hf_config(json::parse(R"({"rope_parameters": {
      "full_attention": {"rope_type": "linear", "rope_theta": 1e6, "factor": 8},
      "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}})"));
  EXPECT_EQ(format_rope_spec(s), "linear:base=1000000,factor=8");
  // Top-level partial_rotary_factor.
  s = rope_from_hf_config(json{{"rope_theta", 10000}, {"partial_rotary_factor", 0.25}});
  EXPECT_EQ(s.partial_rotary, 0.25);
}

TEST(RopeHf, ImportErrorsNameTheField) {
  expect_error_contains([] { rope_from_hf_config(json{{"rope_scaling", {{"rope_type", "su2"}}}}); }, "'su2'");
  expect_error_contains([] { rope_from_hf_config(json{{"rope_scaling", {{"rope_type", "linear"}}}}); },
                        "rope_scaling.factor");
  expect_error_contains([] { rope_from_hf_config(json{{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4}}}}); },
                        "max_position_embeddings");
  expect_error_contains([] { rope_from_hf_config(json{{"rope_theta", "big"}}); }, "'rope_theta' must be a number");
  expect_error_contains(
      [] { rope_from_hf_config(json{{"rope_scaling", {{"rope_type", "linear"}, {"factor", -1}}}}); }, "'factor'");
}

TEST(RopeHf, ExportImportRoundTripsEveryExpressibleKind) {
  const int head_dim = 32;  // 16 rotated pairs, the lists below
  const std::string lists = "short=" + std::string("1;1.1;1.2;1.3;1.4;1.5;1.6;1.7;1.8;1.9;2;2.1;2.2;2.3;2.4;2.5") +
                            ",long=" + "2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17";
  const char* texts[] = {"default", "abf", "abf:base=1000000", "linear:factor=4", "dynamic:factor=4,original=4096",
                         "yarn:factor=8,original=4096", "yarn:beta_fast=16,beta_slow=2,factor=8,original=4096,truncate=0",
                         "yarn:attention_factor=1.25,factor=8,original=4096",
                         "yarn:factor=40,mscale=1,mscale_all_dim=0.707,original=4096",
                         "llama3:base=500000,factor=8,high_freq_factor=4,low_freq_factor=1,original=8192",
                         "linear:factor=2,partial=0.5"};
  std::vector<std::string> all(std::begin(texts), std::end(texts));
  all.push_back("longrope:factor=8,original=4096," + lists);
  all.push_back("longrope:attention_factor=1.1,original=4096," + lists);
  for (bool new_form : {false, true}) {
    for (const std::string& t : all) {
      const RopeSpec spec = parse_rope_spec(t);
      json config = {{"hidden_size", 512}, {"num_attention_heads", 8}};
      if (spec.kind == RopeKind::kDynamic) config["max_position_embeddings"] = 4096;
      if (new_form) config["rope_parameters"] = json::object();
      rope_to_hf_config(spec, config);
      if (new_form) {
        EXPECT_FALSE(config.contains("rope_scaling")) << t;
      } else if (spec.kind != RopeKind::kDefault && spec.kind != RopeKind::kAbf) {
        EXPECT_EQ(config["rope_scaling"]["rope_type"], config["rope_scaling"]["type"]);
      }
      const RopeSpec back = rope_from_hf_config(config);
      // llama3 gets its defaults written out; everything else must come back identical.
      if (spec.kind == RopeKind::kLlama3 || spec.kind == RopeKind::kLongRope) {
        EXPECT_EQ(back.kind, spec.kind) << t;
        expect_same_table(spec, back, head_dim, 1e-15);
      } else {
        EXPECT_EQ(back, spec) << t << " -> " << config.dump() << " -> " << format_rope_spec(back);
      }
    }
  }
}

TEST(RopeHf, ExportRefusesWhatHfCannotExpress) {
  json config = {{"hidden_size", 512}, {"num_attention_heads", 8}};
  // Kinds transformers lacks round-trip exactly through a rope_type of longctx's own, which
  // transformers itself rejects (never a silently plain-RoPE config).
  for (const char* text : {"xpos:base=500000", "xpos:base=10000,gamma=0.3,scale_base=256",
                           "truncation:wavelength=4096", "truncation:wavelength=512,low=0.25,partial=0.5"}) {
    SCOPED_TRACE(text);
    const RopeSpec spec = parse_rope_spec(text);
    json c = {{"hidden_size", 256}, {"num_attention_heads", 4}, {"max_position_embeddings", 4096}};
    rope_to_hf_config(spec, c);
    const std::string type = c["rope_scaling"]["rope_type"].get<std::string>();
    EXPECT_EQ(type, std::string("longctx_") + rope_kind_name(spec.kind));
    EXPECT_EQ(c["rope_scaling"]["type"], type);
    EXPECT_EQ(c["rope_theta"].get<double>(), spec.base);
    EXPECT_EQ(format_rope_spec(rope_from_hf_config(c)), format_rope_spec(spec));
  }
  json mismatched = {{"rope_theta", 10000.0},
                     {"rope_scaling", {{"rope_type", "longctx_xpos"}, {"longctx_spec", "truncation:wavelength=64"}}}};
  expect_error_contains([&] { rope_from_hf_config(mismatched); }, "disagrees with");
  json missing = {{"rope_theta", 10000.0}, {"rope_scaling", {{"rope_type", "longctx_xpos"}}}};
  expect_error_contains([&] { rope_from_hf_config(missing); }, "longctx_spec");
  json mismatch = {{"max_position_embeddings", 8192}};
  expect_error_contains([&] { rope_to_hf_config(parse_rope_spec("dynamic:factor=2,original=4096"), mismatch); },
                        "max_position_embeddings");
  // Static NTK becomes plain RoPE with the adjusted base: b * s^(d/(d-2)), d = 64.
  const RopeSpec ntk = parse_rope_spec("ntk:factor=4");
  rope_to_hf_config(ntk, config);
  EXPECT_NEAR(config["rope_theta"].get<double>(), 10000.0 * std::pow(4.0, 64.0 / 62.0), 1e-9);
  expect_same_table(ntk, rope_from_hf_config(config), 64, 1e-13);
}

// ---------------- GGUF ----------------

TEST(RopeGguf, WritesLlamaCppKeys) {
  GgufRope g = rope_to_gguf(parse_rope_spec("abf"), 128, 32768);
  EXPECT_EQ(std::get<double>(g.kv.at("llama.rope.freq_base")), 500000.0);
  EXPECT_EQ(std::get<int64_t>(g.kv.at("llama.rope.dimension_count")), 128);
  EXPECT_EQ(std::get<std::string>(g.kv.at("llama.rope.scaling.type")), "none");
  EXPECT_EQ(std::get<int64_t>(g.kv.at("llama.context_length")), 32768);
  EXPECT_TRUE(g.rope_freqs.empty());

  g = rope_to_gguf(parse_rope_spec("yarn:factor=8,original=4096"), 128, 32768);
  EXPECT_EQ(std::get<std::string>(g.kv.at("llama.rope.scaling.type")), "yarn");
  EXPECT_EQ(std::get<double>(g.kv.at("llama.rope.scaling.factor")), 8.0);
  EXPECT_EQ(std::get<int64_t>(g.kv.at("llama.rope.scaling.original_context_length")), 4096);
  EXPECT_EQ(std::get<double>(g.kv.at("llama.rope.scaling.yarn_beta_fast")), 32.0);
  EXPECT_EQ(g.kv.count("llama.rope.scaling.attn_factor"), 0u);  // llama.cpp computes 0.1 ln s + 1 itself
  // Explicit YaRN temperature A: llama.cpp multiplies (0.1 ln s + 1) by scaling.attn_factor.
  g = rope_to_gguf(parse_rope_spec("yarn:attention_factor=1.5,factor=8,original=4096"), 128, 0);
  EXPECT_NEAR(std::get<double>(g.kv.at("llama.rope.scaling.attn_factor")), 1.5 / (0.1 * std::log(8.0) + 1.0), 1e-15);

  // Llama 3 as convert_hf_to_gguf writes it: divisors 1 / ((1 - smooth)/factor + smooth) etc.
  g = rope_to_gguf(parse_rope_spec("llama3:base=500000"), 128, 131072);
  EXPECT_EQ(std::get<std::string>(g.kv.at("llama.rope.scaling.type")), "none");
  ASSERT_EQ(g.rope_freqs.size(), 64u);
  for (int j = 0; j < 64; ++j) {
    const double freq = std::pow(500000.0, -2.0 * j / 128.0);
    const double wavelen = 2 * kPi / freq;
    double want;
    if (wavelen < 8192.0 / 4.0) want = 1.0;
    else if (wavelen > 8192.0 / 1.0) want = 8.0;
    else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      want = 1.0 / ((1.0 - smooth) / 8.0 + smooth);
    }
    EXPECT_NEAR(g.rope_freqs[j], want, 1e-6 * want) << "j=" << j;
  }
}

TEST(RopeGguf, RoundTripsEveryExpressibleKind) {
  const int head_dim = 32;  // 16 rotated pairs, the lists below
  const std::string lists = "short=1;1.1;1.2;1.3;1.4;1.5;1.6;1.7;1.8;1.9;2;2.1;2.2;2.3;2.4;2.5,"
                            "long=2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17";
  const std::vector<std::string> texts = {
      "default", "abf", "linear:factor=4", "ntk:factor=4", "yarn:factor=8,original=4096",
      "yarn:beta_fast=16,beta_slow=2,factor=8,original=4096", "yarn:attention_factor=1.25,factor=8,original=4096",
      "llama3:base=500000", "llama3:base=500000,factor=32,high_freq_factor=4,original=8192",
      "llama3:factor=16,high_freq_factor=8,original=4096", "default:partial=0.5",
      "longrope:factor=8,original=4096," + lists, "longrope:attention_factor=1.1,original=4096," + lists};
  for (const std::string& t : texts) {
    const RopeSpec spec = parse_rope_spec(t);
    const GgufRope g = rope_to_gguf(spec, head_dim, 32768);
    const RopeSpec back = rope_from_gguf(g, head_dim);
    if (spec.kind != RopeKind::kNtk) {
      EXPECT_EQ(back.kind, spec.kind) << t << " -> " << format_rope_spec(back);
    }
    // float32 tensors (llama3, longrope lists) limit the agreement to ~1e-7.
    expect_same_table(spec, back, head_dim, 1e-6);
    if (spec.kind == RopeKind::kLlama3) {
      for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original"})
        EXPECT_NEAR(rope_param(back, k), rope_param(spec, k), 1e-9 * rope_param(spec, k)) << t << " " << k;
    }
  }
  // The contract overload (kv + rope_freqs pointer) reads Llama 3 too.
  const GgufRope g = rope_to_gguf(parse_rope_spec("llama3:base=500000"), 128, 131072);
  EXPECT_EQ(format_rope_spec(rope_from_gguf(g.kv, &g.rope_freqs, 128)),
            "llama3:base=500000,factor=8,high_freq_factor=4,low_freq_factor=1,original=8192");
}

TEST(RopeGguf, ReadsLegacyArchPrefixAndArbitraryFactors) {
  GgufKv kv = {{"general.architecture", std::string("mistral")}, {"mistral.rope.freq_base", 1e6},
               {"mistral.rope.scale_linear", 4.0}, {"mistral.rope.dimension_count", int64_t{32}}};
  RopeSpec s = rope_from_gguf(kv, nullptr, 64);
  EXPECT_EQ(format_rope_spec(s), "linear:base=1000000,factor=4,partial=0.5");
  // Divisors that are not Llama 3's shape become LongRoPE with equal lists.
  std::vector<float> f = {1.0f, 3.0f, 1.5f, 2.0f};
  GgufKv kv2 = {{"llama.rope.freq_base", 10000.0}, {"llama.context_length", int64_t{8192}}};
  s = rope_from_gguf(kv2, &f, 8);
  EXPECT_EQ(s.kind, RopeKind::kLongRope);
  auto table = rope_frequencies(s, 8, 100000);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(table.theta[j], std::pow(10000.0, -j / 4.0) / f[j], 1e-15);
  EXPECT_EQ(table.attention_factor, 1.0);
  // YaRN with llama.cpp's DeepSeek log multiplier: mscale_all_dim = value, mscale = 1.
  GgufKv kv3 = {{"llama.rope.scaling.type", std::string("yarn")}, {"llama.rope.scaling.factor", 40.0},
                {"llama.rope.scaling.original_context_length", int64_t{4096}},
                {"llama.rope.scaling.yarn_log_multiplier", 0.707}};
  s = rope_from_gguf(kv3, nullptr, 64);
  EXPECT_NEAR(rope_frequencies(s, 64, 1).attention_factor,
              (0.1 * std::log(40.0) + 1) / (0.1 * 0.707 * std::log(40.0) + 1), 1e-15);
}

TEST(RopeGguf, RefusesWhatGgufCannotExpress) {
  expect_error_contains([] { rope_to_gguf(parse_rope_spec("xpos"), 64, 0); }, "cannot express RoPE kind 'xpos'");
  expect_error_contains([] { rope_to_gguf(parse_rope_spec("truncation:wavelength=100"), 64, 0); },
                        "cannot express RoPE kind 'truncation'");
  expect_error_contains([] { rope_to_gguf(parse_rope_spec("dynamic:factor=2,original=4096"), 64, 0); },
                        "no dynamic NTK");
  expect_error_contains([] { rope_to_gguf(parse_rope_spec("yarn:factor=2,original=4096,truncate=0"), 64, 0); },
                        "truncate=0");
  expect_error_contains(
      [] { rope_from_gguf(GgufKv{{"llama.rope.scaling.type", std::string("ntk")}}, nullptr, 64); }, "'ntk'");
  expect_error_contains(
      [] {
        rope_from_gguf(GgufKv{{"llama.rope.scaling.type", std::string("yarn")}, {"llama.rope.scaling.factor", 4.0}},
                       nullptr, 64);
      },
      "original_context_length");
  expect_error_contains(
      [] {
        rope_from_gguf(GgufKv{{"llama.rope.scaling.type", std::string("yarn")}, {"llama.rope.scaling.factor", 4.0},
                              {"llama.rope.scaling.original_context_length", int64_t{4096}},
                              {"llama.rope.scaling.yarn_ext_factor", 0.5}},
                       nullptr, 64);
      },
      "yarn_ext_factor");
  std::vector<float> wrong(3, 1.5f);
  expect_error_contains([&] { rope_from_gguf(GgufKv{}, &wrong, 64); }, "rope_freqs.weight' has 3 entries, need 32");
  expect_error_contains([] { rope_from_gguf(GgufKv{{"llama.rope.freq_base", std::string("x")}}, nullptr, 64); },
                        "llama.rope.freq_base");
}

}  // namespace
}  // namespace longctx::rope
