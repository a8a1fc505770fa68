// KVCache: the keys and values of one sequence, plain storage and nothing else (the
// scratch of a forward pass lives in the caller's InferenceWorkspace). Keys and values
// each have their own element type (f32, bf16 or Q8_0 rows; keys are the more sensitive
// to rounding, so `--kv-type k=f32,v=q8_0` style mixes are allowed).
//
// Layout per layer: keys (capacity, Hkv*D) then values (capacity, Hkv*D), each row stored
// as its type (kernels::storage_row_bytes). Keys are stored with RoPE applied; the cache
// remembers which frequencies they carry (key_freqs) so the engine can re-rotate them when
// a length-dependent encoding (dynamic NTK, LongRoPE) changes its frequencies
// (docs/serve.md, "Position encodings").
//
// Memory is reserved at construction but pages are only touched as rows are written, so a
// large --ctx costs address space, not resident memory, until it is used.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/buffer.h"
#include "kernels/rope_apply.h"
#include "kernels/storage_type.h"
#include "model/config.h"

namespace longctx::model {

struct KvTypes {
  kernels::StorageType k = kernels::StorageType::kF32;
  kernels::StorageType v = kernels::StorageType::kF32;
  bool operator==(const KvTypes&) const = default;
};
// "f32" (both), "k=f32,v=q8_0", "q8_0"; Error naming `what` otherwise.
KvTypes parse_kv_types(const std::string& text, const std::string& what);
std::string format_kv_types(const KvTypes& t);  // "k=f32,v=q8_0"

// Bytes of a cache of `capacity` tokens (what KVCache reserves).
size_t kv_cache_bytes(const ModelConfig& config, int64_t capacity, KvTypes types);

class KVCache {
 public:
  KVCache() = default;
  // capacity: most tokens the cache can hold (may exceed config.max_seq_len: running past the
  // trained context is allowed). Q8_0 needs n_kv_heads * head_dim to be a multiple of 32.
  KVCache(const ModelConfig& config, int64_t capacity, KvTypes types = {});
  KVCache(KVCache&&) noexcept = default;
  KVCache& operator=(KVCache&&) noexcept = default;

  int64_t position() const { return position_; }  // tokens already in the cache
  int64_t capacity() const { return capacity_; }
  const ModelConfig& config() const { return config_; }
  KvTypes types() const { return types_; }
  size_t bytes() const { return bytes_; }                 // reserved storage
  size_t bytes_used() const;                              // rows [0, position) of every layer
  void reset() { position_ = 0; }
  // Keeps the first n tokens (n <= position()), e.g. to rewind after a rejected draft.
  void truncate(int64_t n);
  // Advances the position after the engine wrote n more rows (inference.cpp).
  void advance(int64_t n);

  size_t k_row_bytes() const { return k_row_bytes_; }
  size_t v_row_bytes() const { return v_row_bytes_; }
  uint8_t* k_rows(int64_t layer);  // (capacity) rows of Hkv*D keys, RoPE applied
  uint8_t* v_rows(int64_t layer);  // (capacity) rows of Hkv*D values
  const uint8_t* k_rows(int64_t layer) const;
  const uint8_t* v_rows(int64_t layer) const;

  // Frequencies the stored keys were rotated with (null while none are stored).
  const kernels::RopeFreqs* key_freqs() const { return has_key_freqs_ ? &key_freqs_ : nullptr; }
  void set_key_freqs(const kernels::RopeFreqs& f);

  // Copies the first n tokens of src (same model shape and types) into this cache, which
  // then holds exactly those n tokens (prefix reuse).
  void copy_prefix_from(const KVCache& src, int64_t n);
  // True when caches of these shapes/types can exchange rows.
  bool compatible_with(const KVCache& other) const;

 private:
  ModelConfig config_{};
  KvTypes types_{};
  int64_t capacity_ = 0, position_ = 0;
  size_t k_row_bytes_ = 0, v_row_bytes_ = 0, layer_bytes_ = 0, bytes_ = 0;
  std::unique_ptr<uint8_t, AlignedFree> data_;
  kernels::RopeFreqs key_freqs_;
  bool has_key_freqs_ = false;
};

}  // namespace longctx::model
