// A session's KV state on disk, to be loaded back later (skip the prefill of a long document
// next time). The file carries a fingerprint of what produced it (model checksum, position
// encoding, KV types and shape) and the tokens it encodes; loading refuses a state whose
// fingerprint differs from the model at hand (naming the field), and callers use the state
// only as a prefix of a prompt that starts with exactly those tokens, so it never enters
// another model or another conversation.
//
// Layout: "LCTXKV01", u64 header length, header JSON, zero padding to 64 bytes, then per
// layer the key rows and the value rows [0, n) as stored in the cache.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "serve/serving_model.h"

namespace longctx::serve {

struct KvFingerprint {
  std::string model_checksum;  // hex of ServingModel::checksum()
  std::string model;           // file name, informational (not compared)
  std::string rope;            // the position encoding spec (format_rope_spec)
  std::string kv_types;        // "k=f32,v=q8_0"
  int64_t n_layers = 0, kv_dim = 0;
};

KvFingerprint kv_fingerprint(const ServingModel& model, model::KvTypes types);

// Writes rows [0, tokens.size()) of cache (tokens = what they encode) atomically.
void save_kv_state(const std::string& path, const KvFingerprint& fingerprint,
                   std::span<const int32_t> tokens, const model::KVCache& cache);

// Checks the file's fingerprint against `expected` (Error naming the file and the first
// differing field, both values), then copies its rows into cache (which then holds exactly
// them) and returns the tokens they encode.
std::vector<int32_t> load_kv_state(const std::string& path, const KvFingerprint& expected,
                                   model::KVCache& cache);

}  // namespace longctx::serve
