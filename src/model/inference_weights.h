// Weights as the inference engine reads them: every matrix a kernels::TypedMatrix (f32,
// bf16 or Q8_0 rows) that may point into a memory-mapped GGUF file, into a training
// ParameterSet, or into storage owned here; norm weights are f32. Immutable once built,
// so any number of sessions (each with its own KVCache and workspace) share one copy.
//
// A logical matrix may consist of several row blocks (LinearWeight::parts): GGUF stores
// q, k and v (and gate, up) as separate tensors, and the engine multiplies each block into
// its columns of one fused output; blocks that lie back to back in memory are merged.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/typed_matmul.h"
#include "model/llama.h"

namespace longctx::model {

struct LinearWeight {
  std::vector<kernels::TypedMatrix> parts;  // row blocks, stacked in order
  int64_t rows() const;
  int64_t cols() const { return parts.empty() ? 0 : parts.front().cols; }
  size_t bytes() const;
  // Adds a row block; merged into the previous one when it continues it in memory.
  void append(const kernels::TypedMatrix& m);
};

// out (N, ldo): columns [0, w.rows()) = x (N, w.cols()) @ w^T (+= when accumulate).
void linear_forward(float* out, int64_t ldo, const float* x, int64_t N, const LinearWeight& w,
                    bool accumulate = false);

struct InferenceLayer {
  const float* attn_norm = nullptr;  // (C)
  LinearWeight wqkv;                 // (H*D + 2*Hkv*D, C): q rows, k rows, v rows
  LinearWeight wo;                   // (C, H*D)
  const float* ffn_norm = nullptr;   // (C)
  LinearWeight w_gate_up;            // (2F, C): gate rows, then up rows
  LinearWeight w_down;               // (C, F)
};

class InferenceWeights {
 public:
  ModelConfig config;
  kernels::TypedMatrix embedding;  // (V, C)
  std::vector<InferenceLayer> layers;
  const float* final_norm = nullptr;  // (C)
  kernels::TypedMatrix lm_head;       // (V, C); the embedding when tied
  // Whatever the pointers point into (a mapping, a model, owned buffers); shared by copies.
  std::vector<std::shared_ptr<const void>> keep_alive;

  // Views of a model's f32 parameters, no copy (the model must outlive the views).
  static InferenceWeights view(const LlamaModel& model);
  // A copy whose matrices (the embedding and head included) are all stored as `type`,
  // owning the converted storage; norms stay f32.
  InferenceWeights converted(kernels::StorageType type) const;

  // Bytes of every matrix and norm (what a decode step reads, plus the embedding).
  size_t bytes() const;
  // "f32", "q8_0", or "mixed (q8_0 matrices, f32 embedding)" style summary.
  std::string type_summary() const;
  // Throws Error naming the tensor when a shape does not match config.
  void validate() const;
};

}  // namespace longctx::model
