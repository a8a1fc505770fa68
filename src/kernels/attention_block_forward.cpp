// Block attention forward (attention_block.h): the tiled forward of
// attention_forward-inl.h with every query after every key of the block (query
// row 0 at position T_kv), separate query and key segment ids, and the result
// merged into (out, lse) when shape.merge asks for it.
#include "kernels/attention_block.h"
#include "kernels/attention_geometry.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_block_forward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_forward-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the best target
// this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void attention_block_forward_target(float* out, float* lse, const float* q, const float* k,
                                    const float* v, const AttentionBlockShape& shape,
                                    const int32_t* q_segments, const int32_t* k_segments) {
  attention_simd::ForwardArgs a;
  a.g = attention_detail::make_block_geometry(shape, q_segments, k_segments,
                                              "attention_block_forward");
  LONGCTX_CHECK(out && lse && q && (a.g.T_kv == 0 || (k && v)),
                "attention_block_forward: out, lse, q, k and v must not be null");
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  a.q_seg = q_segments;
  a.k_seg = k_segments;
  a.merge = shape.merge;
  attention_simd::forward_tiles(a);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_block_forward_target);

void attention_block_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const AttentionBlockShape& shape, const int32_t* q_segments,
                             const int32_t* k_segments) {
  HWY_DYNAMIC_DISPATCH(attention_block_forward_target)
  (out, lse, q, k, v, shape, q_segments, k_segments);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
