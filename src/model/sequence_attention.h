// Who computes a layer's attention in a training forward/backward. By default
// (StepOptions::attention null) it is the causal kernel of kernels/attention.h over the call's
// own T tokens. Context parallelism (train/context_parallel.h) supplies one whose keys span
// the tokens of several processes: each process then holds a slice of every sequence, the
// call's q, k, v are that slice's rows, and the implementation fetches the other slices' keys
// and values itself (ring attention). Everything else in a layer is per token and stays local.
#pragma once
#include <cstdint>

#include "kernels/attention.h"

namespace longctx::model {

class SequenceAttention {
 public:
  virtual ~SequenceAttention() = default;
  // The contract of kernels::attention_forward / attention_backward for the local rows
  // (shape.T_q = shape.T_kv = the call's T, dense k/v); segment_ids (B, T) are the local
  // rows' document ids or null. Every process of the group calls these in the same order.
  virtual void forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const kernels::AttentionShape& shape, const int32_t* segment_ids) = 0;
  virtual void backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const kernels::AttentionShape& shape, const int32_t* segment_ids) = 0;
};

}  // namespace longctx::model
