// RopeSpec: a position encoding as a kind plus named, validated parameters.
// It yields the per-pair table that the kernels consume (kernels::RopeFreqs).
// (Contract fixed by the engine; the position-encoding module fills in kinds.)
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
  std::map<std::string, double> params;            // kind-specific named scalars
  std::vector<double> short_factor, long_factor;   // LongRoPE per-pair lists
  double partial_rotary = 1.0;                     // fraction of head_dim rotated
};

// Per-pair frequencies, attention factor and xPos decay for a head dimension,
// at the current sequence length (dynamic kinds depend on it). Throws Error
// naming the field for invalid specs.
kernels::RopeFreqs rope_frequencies(const RopeSpec& spec, int head_dim, int64_t seq_len);

// "abf:base=500000", "yarn:factor=8,original=4096", "linear:factor=4", "default".
RopeSpec parse_rope_spec(std::string_view text);
std::string format_rope_spec(const RopeSpec& spec);

}  // namespace longctx::rope
