// Causal grouped-query attention, tiled with an online softmax
// (FlashAttention-2 style): the forward keeps only the output and one
// log-sum-exp per (query row, head); the backward recomputes the scores tile
// by tile. Memory O(T * head_dim), never O(T^2). Query head h reads key/value
// head h / (n_heads / n_kv_heads) in place (no copies).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/storage_type.h"

namespace longctx::kernels {

struct AttentionShape {
  int64_t B = 1;       // batch
  int64_t T_q = 0;     // query rows per sequence
  int64_t T_kv = 0;    // key/value rows per sequence (T_kv >= T_q); query row i sits at
                       // absolute position T_kv - T_q + i and sees keys 0..that position
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (divides n_heads)
  int head_dim = 0;
  int64_t kv_batch_stride = 0;  // elements between batches of k/v; 0 = T_kv*n_kv_heads*head_dim
                                // (a KV cache with capacity > T_kv passes its capacity stride)
  float scale = 0.0f;           // 0 = 1/sqrt(head_dim)
  // Tile products with bf16 inputs and fp32 accumulation (Q K^T, P V and the backward's
  // five), as the model's matrix products under MatmulPrecision::kBf16 (gemm.h): with
  // vdpbf16ps where the CPU has AVX512_BF16 (gemm_bf16_instruction()), else fp32 FMAs on
  // the same rounded operands. The softmax, its sums and every accumulation stay fp32.
  bool bf16_products = false;
};

// q (B, T_q, n_heads, D); k, v (B, T_kv, n_kv_heads, D); out (B, T_q, n_heads, D);
// lse (B, n_heads, T_q) = log-sum-exp of the scaled scores of each row (may be null
// for inference). segment_ids (B, T_kv) or null: when given, a query attends only
// to keys with the same segment id (document-boundary masking for packed sequences).
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& shape, const int32_t* segment_ids = nullptr);

// The same forward (B = 1, lse not kept) with keys and values read from a KV cache in
// its stored type (f32, bf16, Q8_0): rows are converted to f32 while the kernel packs
// its tiles, so no f32 copy of the cache is made (the prefill of inference). Row t of k
// and v holds positions t's n_kv_heads * head_dim elements; shape.B must be 1 and
// shape.kv_batch_stride 0. Bit-identical to attention_forward on the converted rows.
void attention_forward_cached(float* out, const float* q, const KvRowsView& k, const KvRowsView& v,
                              const AttentionShape& shape);
// Bytes attention_forward_cached allocates while it runs with n_threads threads (on the
// widest SIMD target; memory plans): the packed key/value tiles of one kv head (a segment of
// them against a long cache), the query blocks' running states, per-thread tiles.
size_t attention_forward_cached_scratch_bytes(const AttentionShape& shape, int n_threads);

// dq (B, T_q, H, D) =; dk, dv (B, T_kv, Hkv, D) = (summed over the query heads sharing them).
// out and lse are what attention_forward produced.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const AttentionShape& shape, const int32_t* segment_ids = nullptr);

}  // namespace longctx::kernels
