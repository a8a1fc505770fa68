// Causal GQA attention backward (attention.h): the tiled backward of
// attention_backward-inl.h with query row i at position T_kv - T_q + i, writing
// (=) dq, dk and dv.
#include "kernels/attention.h"
#include "kernels/attention_geometry.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_backward.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "kernels/attention_backward-inl.h"

// Compiled once per SIMD target; the public entry point below dispatches to the
// best target this CPU runs (kernels/simd.h).
HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {

void attention_backward_target(float* dq, float* dk, float* dv, const float* dout, const float* out,
                               const float* lse, const float* q, const float* k, const float* v,
                               const AttentionShape& shape, const int32_t* segment_ids) {
  attention_simd::BackwardArgs a;
  a.g = attention_detail::make_attention_geometry(shape, "attention_backward");
  LONGCTX_CHECK(dq && dk && dv && dout && out && lse && q && k && v,
                "attention_backward: no pointer argument may be null (lse is required here)");
  a.dq = dq;
  a.dk = dk;
  a.dv = dv;
  a.dout = dout;
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
  attention_simd::backward_tiles(a);
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_backward_target);

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const AttentionShape& shape, const int32_t* segment_ids) {
  HWY_DYNAMIC_DISPATCH(attention_backward_target)(dq, dk, dv, dout, out, lse, q, k, v, shape, segment_ids);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
