// InferenceWorkspace: the scratch of one inference forward call, owned by the caller and
// reused across calls (nothing is allocated per decode step). Sessions that never run
// at the same time may share one; a server thread batching many sequences uses one.
//
// Per forward call of R rows (new tokens summed over the batch), R <= max_rows:
//   x (R, C), xn (R, C), rstd (R), qkv (R, H*D + 2*Hkv*D), q (R, H*D), k_new, v_new
//   (R, Hkv*D), att (R, H*D), gu (R, 2F), h (R, F); h shares its memory with qkv .. att
//   (never live at the same time within a layer).
// plus, on demand, RoPE cos/sin tables (windows over the rows' positions, a few, keyed by
// their frequencies).
// (A prefill chunk's attention packs one kv head's keys and values at a time, a segment at
// a time against a long cache, converted to f32 from the cache's type:
// attention_pack_bytes_for, allocated by the kernel.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

#include "core/buffer.h"
#include "kernels/rope_apply.h"
#include "model/config.h"

namespace longctx::model {

class InferenceWorkspace {
 public:
  InferenceWorkspace() = default;
  InferenceWorkspace(const ModelConfig& config, int64_t max_rows) { prepare(config, max_rows); }
  InferenceWorkspace(const InferenceWorkspace&) = delete;
  InferenceWorkspace& operator=(const InferenceWorkspace&) = delete;

  // Reallocates only when the model shape changes or max_rows grows.
  void prepare(const ModelConfig& config, int64_t max_rows);
  // Bytes prepare() allocates for these sizes (memory plans), tables excluded.
  static size_t bytes_for(const ModelConfig& config, int64_t max_rows);
  // Bytes the prefill attention of a chunk of chunk_rows allocates while it runs against
  // `rows` cached tokens: one kv head's keys and values packed as f32, a segment of them at a
  // time against a long cache (kernels/attention_forward-inl.h).
  static size_t attention_pack_bytes_for(const ModelConfig& config, int64_t chunk_rows, int64_t rows);

  int64_t max_rows() const { return max_rows_; }
  size_t bytes() const;  // everything held now

  float* x = nullptr;
  float* xn = nullptr;
  float* rstd = nullptr;
  float* qkv = nullptr;
  float* q = nullptr;
  float* k_new = nullptr;
  float* v_new = nullptr;
  float* att = nullptr;
  float* gu = nullptr;
  float* h = nullptr;

  // cos/sin covering positions [first, first + n) of freqs: a window over the positions of
  // the rows being computed (rows equal those of a table from 0), never a context-long table.
  // With exact (xPos, whose scales are centred on the table) the table spans exactly [0, n),
  // n the cache's capacity.
  // The reference stays valid until the next begin_round().
  const kernels::RopeCache& rope_table(const kernels::RopeFreqs& freqs, int head_dim, int64_t first,
                                       int64_t n, bool exact);
  // Called before each forward round: drops the tables the previous round did not use.
  void begin_round();
  // Bytes the RoPE tables of `sequences` sequences at most take (memory plans).
  static size_t rope_bytes_for(const ModelConfig& config, int64_t context, int64_t max_rows,
                               int64_t sequences, bool exact);

 private:
  ModelConfig config_{};
  int64_t max_rows_ = 0;
  Buffer<float> buffer_;
  struct Table {
    kernels::RopeFreqs freqs;
    kernels::RopeCache cache;
    uint64_t last_use = 0;
  };
  std::list<Table> tables_;
  uint64_t clock_ = 0, round_start_ = 0, last_round_start_ = 0;
};

}  // namespace longctx::model
