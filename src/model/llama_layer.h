// One transformer block's forward and backward, shared by the training path
// (llama.cpp) and the KV-cache inference path (inference.cpp). Internal to model/.
#pragma once
#include <cstdint>

#include "kernels/rope_apply.h"
#include "model/config.h"
#include "model/parameters.h"
#include "model/sequence_attention.h"
#include "model/workspace.h"

namespace longctx::model {

struct LayerStepArgs {
  int64_t B = 1;           // sequences
  int64_t T = 0;           // new (query) tokens per sequence
  int64_t pos_offset = 0;  // absolute position of each sequence's first new token
  // Key/value destination (B, kv_capacity, Hkv, D): new rows are written at rows
  // [pos_offset, pos_offset + T) and attention reads rows [0, pos_offset + T).
  // Training passes the activations' k, v with kv_capacity = T.
  float* k_cache = nullptr;
  float* v_cache = nullptr;
  int64_t kv_capacity = 0;
  const kernels::RopeCache* rope = nullptr;  // covers positions [0, pos_offset + T)
  const int32_t* segment_ids = nullptr;      // (B, kv_capacity) or null
  const int32_t* positions = nullptr;        // (B, T) RoPE positions, or null (pos_offset + t)
  float* qkv = nullptr;                      // (B*T, H*D + 2*Hkv*D) scratch
  SequenceAttention* attention = nullptr;    // null: the causal kernels over these rows
};

// x_in (N, C) -> x_out (N, C), N = B*T, saving what the backward needs in `a`
// (a.k and a.v are unused: k, v go to args.k_cache/v_cache). a.lse may be null
// (inference). x_out may be null: the FFN down projection and the final residual
// are skipped (activation recomputation needs only the saved internals).
void layer_forward(const ModelConfig& cfg, const LayerWeights& w, LayerActivations& a,
                   const float* x_in, float* x_out, const LayerStepArgs& args);

// dres (N, C): on entry d loss / d x_out, on exit d loss / d x_in.
// Parameter gradients are accumulated into g. dqkv (N, H*D + 2*Hkv*D) scratch.
// Recomputes a.h, a.xn2 and a.xn1 (in that order) from the saved gu, x_mid and
// x_in first; the recomputation is bit-identical to the forward.
void layer_backward(const ModelConfig& cfg, const LayerWeights& w, const LayerWeights& g,
                    LayerActivations& a, const float* x_in, float* dres, BackwardScratch& s,
                    float* dqkv, const LayerStepArgs& args);

}  // namespace longctx::model
