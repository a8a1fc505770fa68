// GGUF (llama.cpp) metadata <-> RopeSpec. See docs/rope.md for the mapping table.
//
// Keys are "<arch>.rope.*"; export writes arch "llama", import uses general.architecture when
// present, else "llama". What llama.cpp computes from these keys:
//   freq_base b; dimension_count = rotated dims (partial rotary = dimension_count / head_dim);
//   scaling.type none|linear|yarn|longrope; scaling.factor s (llama.cpp freq_scale = 1/s);
//   legacy scale_linear (= s, read when scaling.type is absent); scaling.original_context_length;
//   yarn_beta_fast/slow; yarn_attn_factor (the total cos/sin temperature, as convert_hf_to_gguf
//   writes Hugging Face's attention_factor); yarn_log_multiplier (DeepSeek: 0.1 * mscale_all_dim);
//   yarn_ext_factor (must be 1 or negative = default: a partial YaRN blend is not a RopeSpec);
//   scaling.attn_factor (longrope temperature); scaling.finetuned (informational, ignored).
//   rope_freqs.weight: per-pair frequency DIVISORS f_j (theta_j = b^(-2j/d) / f_j), which is how
//   convert_hf_to_gguf expresses Llama 3 scaling (scaling.type stays none).
//   Phi-3 LongRoPE lists travel as rope_factors_short.weight / rope_factors_long.weight.
// Refused with an Error: xpos, truncation (no GGUF form) and dynamic (llama.cpp has no dynamic NTK).
// Static ntk is written as a plain freq_base (identical frequencies, kind not preserved).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "rope/rope_spec.h"

namespace longctx::rope {

using GgufScalar = std::variant<int64_t, double, std::string, bool>;
using GgufKv = std::map<std::string, GgufScalar>;

struct GgufRope {
  GgufKv kv;
  std::vector<float> rope_freqs;  // llama.cpp's rope_freqs.weight per-pair frequency-factor tensor, empty when none
  std::vector<float> rope_factors_short, rope_factors_long;  // LongRoPE (Phi-3) tensors, empty when none
};

// context_length > 0 is written as <arch>.context_length (LongRoPE's default factor is
// context_length / original, as in Phi-3).
GgufRope rope_to_gguf(const RopeSpec& spec, int head_dim, int64_t context_length);

// rope_freqs may be null. A frequency-factor tensor is recognised as Llama 3 scaling when it
// fits that formula (low_freq_factor taken as 1, the only value the parameters can be recovered
// with); otherwise it becomes longrope with equal short/long lists.
RopeSpec rope_from_gguf(const GgufKv& kv, const std::vector<float>* rope_freqs, int head_dim);
// Same, with the LongRoPE short/long tensors as well.
RopeSpec rope_from_gguf(const GgufRope& rope, int head_dim);

}  // namespace longctx::rope
