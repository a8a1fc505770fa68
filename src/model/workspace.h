// TrainWorkspace: the preallocated activations of a training (or evaluation)
// forward/backward for one (config, B, T, layout). Allocated once by prepare()
// and reused across steps: the hot path never allocates.
//
// Layouts (N = B*T tokens; C, D, H, Hkv, F, V as in ParameterSet):
//   kStoreAll:  n_layers x LayerActivations + (n_layers + 1) residual streams (N, C)
//   kRecompute: 1 x LayerActivations        + (n_layers + 1) residual streams (N, C)
//   kForward:   1 x LayerActivations        + 2 residual streams (N, C)
// plus one BackwardScratch (training layouts only) and the final-norm buffers.
// A forward-only call accepts any prepared layout of the same (config, B, T).
#pragma once
#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "kernels/rope_apply.h"
#include "model/config.h"

namespace longctx::model {

enum class WorkspaceLayout { kStoreAll, kRecompute, kForward };

// What one layer's forward saves for its backward. xn1, xn2 and h may point to
// buffers shared by all layers (and xn1 == xn2 is allowed): layer_forward uses
// each before writing the next, and layer_backward recomputes them.
struct LayerActivations {
  float* rstd1;  // (N) attention-norm reciprocal RMS
  float* xn1;    // (N, C) attention-norm output
  float* q;      // (N, H*D) after RoPE
  float* k;      // (N, Hkv*D) after RoPE
  float* v;      // (N, Hkv*D)
  float* att;    // (N, H*D) attention output (before o_proj)
  float* lse;    // (B, H, T) attention log-sum-exp per row
  float* x_mid;  // (N, C) residual after attention
  float* rstd2;  // (N) ffn-norm reciprocal RMS
  float* xn2;    // (N, C) ffn-norm output
  float* gu;     // (N, 2F) gate and up projections
  float* h;      // (N, F) SwiGLU output
};

// One layer's backward temporaries (reused by every layer).
struct BackwardScratch {
  float* dxn;   // (N, C) gradient w.r.t. a norm output
  float* dh;    // (N, F)
  float* dgu;   // (N, 2F)
  float* datt;  // (N, H*D)
  float* dq;    // (N, H*D)
  float* dk;    // (N, Hkv*D)
  float* dv;    // (N, Hkv*D)
};

class TrainWorkspace {
 public:
  TrainWorkspace() = default;
  TrainWorkspace(const TrainWorkspace&) = delete;
  TrainWorkspace& operator=(const TrainWorkspace&) = delete;

  // (Re)allocates only when config sizes, B, T or the layout differ from the current ones.
  void prepare(const ModelConfig& config, int64_t B, int64_t T, WorkspaceLayout layout);
  // True when a prepared workspace already fits a forward-only pass of (config, B, T).
  bool fits_forward(const ModelConfig& config, int64_t B, int64_t T) const;
  // Bytes prepare(config, B, T, layout) allocates (the same carving), for estimates made
  // before a run.
  static size_t bytes_needed(const ModelConfig& config, int64_t B, int64_t T,
                             WorkspaceLayout layout);

  size_t bytes() const { return buffer_.size() * sizeof(float); }
  WorkspaceLayout layout() const { return layout_; }
  int64_t B() const { return B_; }
  int64_t T() const { return T_; }

  // RoPE table for T positions of `spec` at head_dim D; rebuilt only when they change.
  const kernels::RopeCache& rope_cache(const rope::RopeSpec& spec, int head_dim, int64_t T);

  std::vector<LayerActivations> layers;  // n_layers (kStoreAll) or 1
  std::vector<float*> residual;          // (N, C) each: n_layers + 1, or 2 (kForward)
  BackwardScratch scratch{};             // null pointers in kForward
  float* qkv = nullptr;                  // (N, H*D + 2*Hkv*D) fused projection (and its gradient)
  float* xf = nullptr;                   // (N, C) final-norm output
  float* rstd_f = nullptr;               // (N)
  float* dxf = nullptr;                  // (N, C)
  float* dres = nullptr;                 // (N, C) gradient of the residual stream

 private:
  bool matches(const ModelConfig& config, int64_t B, int64_t T) const;

  ModelConfig config_{};
  int64_t B_ = 0, T_ = 0;
  WorkspaceLayout layout_ = WorkspaceLayout::kForward;
  Buffer<float> buffer_;

  kernels::RopeCache rope_cache_;
  rope::RopeSpec rope_spec_{};
  bool rope_valid_ = false;
};

// True when two specs give the same frequencies (all fields equal).
bool same_rope_spec(const rope::RopeSpec& a, const rope::RopeSpec& b);

}  // namespace longctx::model
