// Causal GQA attention forward (attention.h): the tiled forward of
// attention_forward-inl.h with query row i at position T_kv - T_q + i, one
// segment id array serving both the queries (from that position on) and the keys.
#include "kernels/attention.h"
#include "kernels/attention_geometry.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_forward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_forward-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the
// best target this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void attention_forward_target(float* out, float* lse, const float* q, const float* k, const float* v,
                              const AttentionShape& shape, const int32_t* segment_ids) {
  attention_simd::ForwardArgs a;
  a.g = attention_detail::make_attention_geometry(shape, "attention_forward");
  LONGCTX_CHECK(out && q && k && v, "attention_forward: out, q, k and v must not be null");
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  if (segment_ids) {  // (B, T_kv): keys at 0.., queries at pos_offset..
    a.k_seg = segment_ids;
    a.q_seg = segment_ids + a.g.pos_offset;
    a.q_seg_batch = a.k_seg_batch = a.g.T_kv;
  }
  attention_simd::forward_tiles(a);
}

void attention_forward_cached_target(float* out, const float* q, const KvRowsView& k,
                                     const KvRowsView& v, const AttentionShape& shape) {
  attention_simd::ForwardArgs a;
  a.g = attention_detail::make_attention_geometry(shape, "attention_forward_cached");
  LONGCTX_CHECK(shape.B == 1 && shape.kv_batch_stride == 0,
                "attention_forward_cached: shape.B must be 1 and shape.kv_batch_stride 0 (got %lld, %lld)",
                static_cast<long long>(shape.B), static_cast<long long>(shape.kv_batch_stride));
  LONGCTX_CHECK(out && q && (k.data || a.g.T_kv == 0) && (v.data || a.g.T_kv == 0),
                "attention_forward_cached: out, q and the cache rows must not be null");
  a.out = out;
  a.q = q;
  a.k_cache = &k;
  a.v_cache = &v;
  attention_simd::forward_tiles(a);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_forward_target);
HWY_EXPORT(attention_forward_cached_target);

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionShape& shape, const int32_t* segment_ids) {
  HWY_DYNAMIC_DISPATCH(attention_forward_target)(out, lse, q, k, v, shape, segment_ids);
}

void attention_forward_cached(float* out, const float* q, const KvRowsView& k, const KvRowsView& v,
                              const AttentionShape& shape) {
  HWY_DYNAMIC_DISPATCH(attention_forward_cached_target)(out, q, k, v, shape);
}

size_t attention_forward_cached_scratch_bytes(const AttentionShape& shape, int n_threads) {
  using namespace attention_detail;
  // As forward_tiles (attention_forward-inl.h) sizes them, with the widest vector (16 floats).
  const int64_t D = shape.head_dim, Dp = (D + 15) / 16 * 16;
  const int64_t G = shape.n_heads / std::max(1, shape.n_kv_heads);
  const int64_t block_pos = std::max<int64_t>(1, kQueryRowsTarget / std::max<int64_t>(1, G));
  const int64_t n_blocks = (shape.T_q + block_pos - 1) / block_pos, rows_max = block_pos * G;
  const int64_t n_tiles = (shape.T_kv + kKeyTile - 1) / kKeyTile;
  const bool pack_per_group = n_blocks >= 2 * n_threads;
  const int64_t pack_tiles = forward_pack_tiles(n_blocks, rows_max, n_tiles);
  // Floats, or 32-bit words of bf16 pairs (attention_bf16-inl.h) with bf16 products.
  const bool bf16 = shape.bf16_products;
  const int64_t D2 = (D + 1) / 2;
  const int64_t tile = bf16 ? kKeyTile * (D2 + Dp / 2) : D * kKeyTile + kKeyTile * Dp;  // K^T, V
  int64_t floats = 0;
  if (pack_per_group) floats += pack_tiles * tile;
  if (pack_per_group && pack_tiles < n_tiles)
    floats += n_blocks * rows_max * (2 * Dp + 2 + (bf16 ? D2 : 0));
  const int64_t per_thread = Dp + rows_max * (2 * Dp + kKeyTile + 2) + (pack_per_group ? 0 : tile) +
                             (bf16 ? Dp + D2 + rows_max * (D2 + kKeyTile / 2) : 0);
  floats += n_threads * per_thread;
  return static_cast<size_t>(floats) * sizeof(float);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
