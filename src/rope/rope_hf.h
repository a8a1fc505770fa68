// Hugging Face config.json <-> RopeSpec. See docs/rope.md for the mapping table.
//
// Import reads, with Hugging Face's own precedence (transformers'
// modeling_rope_utils / standardize_rope_params):
//   rope_parameters (newer form; rope_theta and partial_rotary_factor inside; a dict keyed by
//   layer type uses "full_attention"), else rope_scaling + top-level rope_theta;
//   rope_type or the older spelling type; partial_rotary_factor; for yarn/llama3/longrope the
//   original context from a top-level original_max_position_embeddings (Phi-3 style, takes
//   priority), else the dict's, else max_position_embeddings; dynamic uses max_position_embeddings.
// Export writes rope_theta + rope_scaling (or rope_parameters when the config already has that
// key), with both "rope_type" and "type". Kinds Hugging Face cannot express (xpos, truncation)
// get a rope_type of longctx's own ("longctx_xpos", "longctx_truncation") with the exact spec
// in "longctx_spec": longctx reads them back exactly, and transformers stops with an
// unknown-rope_type error rather than silently running plain RoPE (a lossy config is never
// written); static ntk is written as default with the
// NTK-adjusted rope_theta (identical frequencies; needs head_dim or hidden_size and
// num_attention_heads in the config).
#pragma once
#include <nlohmann/json.hpp>

#include "rope/rope_spec.h"

namespace longctx::rope {

RopeSpec rope_from_hf_config(const nlohmann::json& config);
void rope_to_hf_config(const RopeSpec& spec, nlohmann::json& config);

}  // namespace longctx::rope
