// Text form, validation and error messages of RopeSpec.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "rope/rope_spec.h"

namespace longctx::rope {
namespace {

// Expects parse (or frequencies) of `text` to throw an Error whose message contains `needle`.
void expect_error(const std::string& text, const std::string& needle, int head_dim = 128) {
  try {
    RopeSpec s = parse_rope_spec(text);
    rope_frequencies(s, head_dim, 4096);
    ADD_FAILURE() << "expected an error for '" << text << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

TEST(RopeSpec, ParsesCompactForms) {
  RopeSpec a = parse_rope_spec("abf:base=500000");
  EXPECT_EQ(a.kind, RopeKind::kAbf);
  EXPECT_EQ(a.base, 500000.0);
  EXPECT_EQ(parse_rope_spec("abf").base, 500000.0);
  EXPECT_EQ(parse_rope_spec("default").base, 10000.0);
  RopeSpec y = parse_rope_spec("yarn:factor=8,original=4096");
  EXPECT_EQ(y.kind, RopeKind::kYarn);
  EXPECT_EQ(y.params.at("factor"), 8.0);
  EXPECT_EQ(y.params.at("original"), 4096.0);
  RopeSpec l = parse_rope_spec(" linear : factor = 4 ");
  EXPECT_EQ(l.kind, RopeKind::kLinear);
  EXPECT_EQ(l.params.at("factor"), 4.0);
  RopeSpec x = parse_rope_spec("xpos:base=500000");
  EXPECT_EQ(x.kind, RopeKind::kXpos);
  EXPECT_EQ(x.base, 500000.0);
  RopeSpec p = parse_rope_spec("default:partial=0.25");
  EXPECT_EQ(p.partial_rotary, 0.25);
  RopeSpec lr = parse_rope_spec("longrope:original=4096,factor=8,short=1;1.5,long=2;4.25");
  EXPECT_EQ(lr.short_factor, (std::vector<double>{1.0, 1.5}));
  EXPECT_EQ(lr.long_factor, (std::vector<double>{2.0, 4.25}));
}

TEST(RopeSpec, FormatRoundTripsEveryKind) {
  const char* texts[] = {
      "default",
      "abf",
      "abf:base=1000000",
      "linear:factor=4",
      "ntk:factor=2.5",
      "dynamic:factor=4,original=4096",
      "yarn:attention_factor=1.2,beta_fast=16,beta_slow=2,factor=8,original=4096,truncate=0",
      "llama3:factor=32,original=8192",
      "xpos:base=500000",
      "xpos:gamma=0.3,scale_base=1024",
      "truncation:wavelength=4096",
      "longrope:factor=8,original=4096,short=1;1.1;1.3,long=2;3.5;8",
      "default:base=1000000,partial=0.5",
      "yarn:factor=0.1,original=3,partial=0.25",
  };
  for (const char* t : texts) {
    RopeSpec s = parse_rope_spec(t);
    EXPECT_EQ(format_rope_spec(s), t);
    EXPECT_EQ(parse_rope_spec(format_rope_spec(s)), s) << t;
  }
  // Awkward doubles survive too (shortest round-trip formatting).
  RopeSpec s = make_rope_spec(RopeKind::kLinear);
  s.params["factor"] = 1.0 / 3.0;
  s.base = 12345.678901234567;
  EXPECT_EQ(parse_rope_spec(format_rope_spec(s)), s);
}

TEST(RopeSpec, ErrorsNameTheField) {
  expect_error("rotary", "unknown kind 'rotary'");
  expect_error("abf:bse=5", "unknown key 'bse'");
  expect_error("abf:factor=2", "unknown key 'factor'");
  expect_error("linear:factor=0", "'factor' must be > 0");
  expect_error("linear:factor=-2", "'factor' must be > 0");
  expect_error("linear", "missing required key 'factor'");
  expect_error("default:base=1", "'base' must be > 1");
  expect_error("default:base=0.5", "'base' must be > 1");
  expect_error("yarn:factor=8", "missing required key 'original'");
  expect_error("dynamic:factor=2", "missing required key 'original'");
  expect_error("linear:factor=abc", "'abc' is not a number");
  expect_error("linear:factor", "is not key=value");
  expect_error("default:partial=0", "'partial'");
  expect_error("default:partial=1.5", "'partial'");
  expect_error("default:short=1;2", "only applies to longrope");
  expect_error("longrope:original=4096,factor=4,short=1;2,long=1;2", "list 'short' has 2 entries, need 64");
  expect_error("longrope:original=4096,factor=4,short=1,long=1;2;3", "list 'long' has 3 entries, need 1", 2);
  expect_error("longrope:original=4096,long=1", "missing required list 'short'");
  expect_error("yarn:factor=8,original=4096,truncate=2", "'truncate' must be 0 or 1");
  expect_error("default", "'head_dim' must be positive and even", 127);
  expect_error("", "empty");
}

TEST(RopeSpec, HelpListsEveryKindAndKey) {
  const std::string help = rope_spec_help();
  for (RopeKind k : all_rope_kinds()) EXPECT_NE(help.find(rope_kind_name(k)), std::string::npos);
  for (const char* key : {"factor", "original", "beta_fast", "beta_slow", "low_freq_factor", "high_freq_factor",
                          "gamma", "scale_base", "wavelength", "partial", "short, long", "default 32", "default 8192"})
    EXPECT_NE(help.find(key), std::string::npos) << key;
}

}  // namespace
}  // namespace longctx::rope
