// Attention of a block of queries against a block of keys that lies wholly before them in
// the sequence, so that every key is visible to every query (no causal mask inside the
// block): the off-diagonal blocks of ring attention (train/context_parallel.h), whose
// diagonal blocks are the causal kernels of attention.h. Grouped-query, tiled with an online
// softmax and O(T) memory like attention.h, built from the same SIMD tile products.
//
// Results over several key blocks combine through their log-sum-exps: with `merge` the
// forward folds its block into an (out, lse) that already holds the attention over other
// keys, out = (e^lse_a out_a + e^lse_b out_b) / (e^lse_a + e^lse_b), lse = log(e^lse_a +
// e^lse_b). The backward of one block needs only the final (merged) out and lse of its query
// rows: P = exp(s - lse) is then the block's share of the full softmax, and the gradients of
// all blocks add up to those of the whole attention.
//
// Packed documents: the query and key blocks come from different parts of the sequence, so
// their segment ids are given separately; a query sees only keys of its own segment.
#pragma once
#include <cstdint>

namespace longctx::kernels {

struct AttentionBlockShape {
  int64_t T_q = 0;     // query rows (one sequence)
  int64_t T_kv = 0;    // key/value rows, all visible to every query (up to segments)
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (divides n_heads)
  int head_dim = 0;
  int64_t lse_stride = 0;  // floats between the lse rows of consecutive heads; 0 = T_q (a
                           // query block inside a longer sequence passes that length)
  float scale = 0.0f;      // 0 = 1/sqrt(head_dim)
  // Forward only: out and lse already hold the attention of the same queries over other
  // keys; this block is merged into them instead of overwriting them.
  bool merge = false;
  bool bf16_products = false;  // as AttentionShape::bf16_products
};

// q (T_q, H, D); k, v (T_kv, Hkv, D); out (T_q, H, D) = or merged; lse (H, lse_stride), first
// T_q of each row, = or merged (natural log). q_segments (T_q) and k_segments (T_kv): both
// null, or both given. A query that sees no key of this block gets out 0 and lse -inf (and a
// merge leaves it unchanged).
void attention_block_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const AttentionBlockShape& shape, const int32_t* q_segments = nullptr,
                             const int32_t* k_segments = nullptr);

// This block's part of the gradients of sum(dout * out), out being the final attention of the
// query rows (every block merged) and lse its log-sum-exp, layouts as in the forward:
// dq (T_q, H, D) +=; dk, dv (T_kv, Hkv, D) += (summed over the query heads sharing them).
// Accumulates, so the blocks of a ring add their parts. Rows with lse = -inf contribute
// nothing. shape.merge is ignored.
void attention_block_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const float* q, const float* k, const float* v,
                              const AttentionBlockShape& shape, const int32_t* q_segments = nullptr,
                              const int32_t* k_segments = nullptr);

}  // namespace longctx::kernels
