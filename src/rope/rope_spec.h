// RopeSpec: a position encoding as a kind plus named, validated parameters.
// It yields the per-pair table that the kernels consume (kernels::RopeFreqs).
// (Contract fixed by the engine; the position-encoding module fills in kinds.)
//
// Compact text form (the `--rope` flag everywhere):
//   kind[:key=value[,key=value...]]
// lists (LongRoPE) separate values with ';':  longrope:original=4096,factor=8,short=1;1.5,long=2;4
// Every kind accepts `base` (RoPE base b) and `partial` (fraction of head_dim rotated).
// rope_spec_help() lists kinds, keys, defaults and formulas; docs/rope.md explains them.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/rope_apply.h"

namespace longctx::rope {

enum class RopeKind { kDefault, kAbf, kLinear, kNtk, kDynamic, kYarn, kLlama3, kXpos, kTruncation, kLongRope };

struct RopeSpec {
  RopeKind kind = RopeKind::kDefault;
  double base = 10000.0;
  std::map<std::string, double> params;            // kind-specific named scalars (only those given)
  std::vector<double> short_factor, long_factor;   // LongRoPE per-pair lists
  double partial_rotary = 1.0;                     // fraction of head_dim rotated

  bool operator==(const RopeSpec&) const = default;
};

// Per-pair frequencies, attention factor and xPos decay for a head dimension,
// at the current sequence length (dynamic kinds depend on it). Throws Error
// naming the field for invalid specs.
kernels::RopeFreqs rope_frequencies(const RopeSpec& spec, int head_dim, int64_t seq_len);

// "abf:base=500000", "yarn:factor=8,original=4096", "linear:factor=4", "default".
RopeSpec parse_rope_spec(std::string_view text);
std::string format_rope_spec(const RopeSpec& spec);

// ---- helpers around the contract ----

// Kind <-> its text name ("default", "abf", "linear", "ntk", "dynamic", "yarn",
// "llama3", "xpos", "truncation", "longrope"). Unknown names throw Error.
const char* rope_kind_name(RopeKind kind);
RopeKind rope_kind_from_name(std::string_view name);
std::vector<RopeKind> all_rope_kinds();

// The kind's default base: 500000 for abf (LLaMA 2 Long), 10000 otherwise.
double default_base(RopeKind kind);

// A spec for `kind` with its default base and no parameters.
RopeSpec make_rope_spec(RopeKind kind);

// Checks keys, ranges and required keys (not list lengths, which need head_dim).
// Throws Error naming the field.
void validate_rope_spec(const RopeSpec& spec);

// Value of a parameter, or the kind's documented default; throws Error naming the
// key when it is required and absent.
double rope_param(const RopeSpec& spec, const std::string& key);
bool has_rope_param(const RopeSpec& spec, const std::string& key);

// Number of rotated pairs for a head dimension (partial rotary applied); throws
// Error naming `head_dim` or `partial` when odd / not an even rotated width.
int rotated_pairs(const RopeSpec& spec, int head_dim);

// Multi-line help for `--rope` flags: syntax, every kind with its keys, defaults
// and formula name.
std::string rope_spec_help();

}  // namespace longctx::rope
