// Double-precision reference of the whole LLaMA model, built only from the
// kernels' scalar double references (kernels/reference.h, attention_reference.h):
// no tiling, no BLAS, no chunking, full logits. Tests compare the float model's
// loss, logits and every parameter gradient against it; it is slow (O(T^2)
// attention, T x V logits) and meant for tiny configs only.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/parameters.h"

namespace longctx::model {

struct ReferenceResult {
  double loss_sum = 0.0;
  int64_t n_valid = 0;
  std::vector<double> grads;   // same layout as ParameterSet: d(loss_sum / n_valid)/dparams
                               // (empty unless requested); tied heads summed into the embedding
  std::vector<double> logits;  // (B*T, V) (empty unless requested)
};

struct ReferenceRequest {
  bool grads = false;
  bool logits = false;
  const int32_t* position_ids = nullptr;  // (B, T) RoPE positions or null, as StepOptions
  int64_t position_limit = 0;             // 0 = T, as StepOptions
};

// params: the model's parameters in double, ParameterSet layout (see to_double).
// targets (B, T) may be null when only logits are requested.
ReferenceResult reference_forward(const ModelConfig& config, const std::vector<double>& params,
                                  const int32_t* tokens, const int32_t* targets, int64_t B,
                                  int64_t T, const ReferenceRequest& request);

std::vector<double> to_double(const ParameterSet& params);

}  // namespace longctx::model
