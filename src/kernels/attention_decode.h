// Attention of a few new query rows per sequence against a KV cache stored as f32, bf16
// or Q8_0 rows: the decode step of inference (one row per sequence), for many sequences
// at once. Decode is bound by reading the cache, so the cache is read once per step, in
// order: whole rows (every kv head) tile by tile (32 rows), converted to f32 in L1 when
// stored as bf16/Q8_0, every query head scored against the tile while it is in L1.
// Online softmax (no T_kv-sized score buffer) with the output accumulator held in
// registers across a tile; long caches are split along their length over threads and the
// partial results merged (flash-decoding), so one sequence uses every core and each
// thread streams contiguous memory.
//
// Prefill chunks (many query rows) go through kernels/attention.h instead.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/storage_type.h"

namespace longctx::kernels {

struct DecodeAttentionTask {
  float* out = nullptr;      // (T_q, H, D)
  const float* q = nullptr;  // (T_q, H, D), RoPE applied
  KvRowsView k, v;           // rows [0, T_kv), RoPE applied to k
  int64_t T_q = 1;           // query rows; row i sits at position T_kv - T_q + i
  int64_t T_kv = 0;          // >= T_q; query row i sees keys 0..its position
};

struct DecodeAttentionShape {
  int n_heads = 0;     // H; query head h reads kv head h / (H / Hkv)
  int n_kv_heads = 0;  // Hkv
  int head_dim = 0;    // D
  float scale = 0.0f;  // 0 = 1/sqrt(D)
};

void attention_decode(const DecodeAttentionTask* tasks, int64_t n_tasks,
                      const DecodeAttentionShape& shape);

}  // namespace longctx::kernels
