// Block attention backward (attention_block.h): the tiled backward of
// attention_backward-inl.h with every query after every key of the block, separate
// query and key segment ids, adding (+=) this block's part to dq, dk and dv so that
// the blocks of a ring sum their parts.
#include "kernels/attention_block.h"
#include "kernels/attention_geometry.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_block_backward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_backward-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the best target
// this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void attention_block_backward_target(float* dq, float* dk, float* dv, const float* dout,
                                     const float* out, const float* lse, const float* q,
                                     const float* k, const float* v,
                                     const AttentionBlockShape& shape, const int32_t* q_segments,
                                     const int32_t* k_segments) {
  attention_simd::BackwardArgs a;
  a.g = attention_detail::make_block_geometry(shape, q_segments, k_segments,
                                              "attention_block_backward");
  if (a.g.T_q == 0 || a.g.T_kv == 0) return;  // nothing to add
  LONGCTX_CHECK(dq && dk && dv && dout && out && lse && q && k && v,
                "attention_block_backward: no pointer argument may be null");
  a.dq = dq;
  a.dk = dk;
  a.dv = dv;
  a.dout = dout;
  a.out = out;
  a.lse = lse;
  a.q = q;
  a.k = k;
  a.v = v;
  a.q_seg = q_segments;
  a.k_seg = k_segments;
  a.accumulate = true;
  attention_simd::backward_tiles(a);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_block_backward_target);

void attention_block_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                              const float* lse, const float* q, const float* k, const float* v,
                              const AttentionBlockShape& shape, const int32_t* q_segments,
                              const int32_t* k_segments) {
  HWY_DYNAMIC_DISPATCH(attention_block_backward_target)
  (dq, dk, dv, dout, out, lse, q, k, v, shape, q_segments, k_segments);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
