// Engine: one opened model plus what its sessions share: the context length, KV cache
// types, chunk size, the memory plan (checked before any cache is allocated) and the prefix
// cache. Session: one sequence (a KV cache, the tokens it holds, a workspace) that runs the
// decoding loop with prefix reuse. `longctx generate` and `longctx chat` use one session;
// the server drives many through serve/scheduler.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/decode.h"
#include "model/memory_plan.h"
#include "model/prefix_cache.h"
#include "serve/serving_model.h"

namespace longctx::serve {

struct EngineOptions {
  int64_t context = 0;  // KV cache capacity per sequence; 0 = the model's trained context
  model::KvTypes kv_types;
  int64_t chunk = model::kPrefillChunk;  // rows per forward round
  int64_t sequences = 1;                 // sessions side by side (server slots)
  size_t prefix_cache_bytes = 0;         // 0 = no prefix cache
  int64_t logits_rows = 1;               // logits rows held per sequence (prompt logprobs: chunk)
  size_t memory_limit = 0;               // bytes the plan may use; 0 = what the system has
};

class Engine {
 public:
  // Plans memory and refuses (Error with the numbers) when the plan does not fit.
  Engine(const ServingModel& model, const EngineOptions& options);

  const ServingModel& model() const { return model_; }
  const model::InferenceWeights& weights() const { return model_.weights; }
  const EngineOptions& options() const { return options_; }
  int64_t context() const { return options_.context; }
  const model::MemoryPlan& plan() const { return plan_; }
  // Non-empty when --ctx exceeds the trained context (one line, for stderr).
  const std::string& context_warning() const { return context_warning_; }
  model::PrefixCache& prefix_cache() { return prefix_cache_; }

 private:
  const ServingModel& model_;
  EngineOptions options_;
  model::MemoryPlan plan_;
  std::string context_warning_;
  model::PrefixCache prefix_cache_;
};

// Text of generated ids as it continues `prompt`: SentencePiece drops the space of a text's
// first piece ("▁a" alone decodes to "a"), so the ids are decoded after the prompt's last
// token and that token's own text is cut off again; after BOS (or an empty prompt) the text
// starts a document and keeps the plain decoding.
model::Detokenizer continuation_detokenizer(const io::Tokenizer& tok, std::span<const int32_t> prompt);

struct SessionResult {
  model::DecodeResult decode;
  int64_t cached_tokens = 0;  // prompt tokens reused instead of prefilled
};

class Session {
 public:
  explicit Session(Engine& engine);

  // Makes the cache hold the longest reusable prefix of prompt (at most prompt.size() - 1
  // tokens: the last one must run to give logits): this session's own tokens, or an entry
  // of the engine's prefix cache when that is longer. Returns the reused count. An empty
  // prompt empties the cache.
  int64_t reuse_prefix(std::span<const int32_t> prompt);
  // reuse_prefix, then the decoding loop over the rest of prompt. prompt is the whole
  // sequence (a chat passes the whole conversation each turn). With store_prefix the final
  // state goes into the engine's prefix cache.
  SessionResult generate(std::span<const int32_t> prompt, const model::DecodeOptions& options,
                         const model::DecodeCallback& on_token = {}, bool store_prefix = false);

  const std::vector<int32_t>& tokens() const { return tokens_; }  // what the cache holds
  model::KVCache& cache() { return cache_; }
  // After a forward outside generate() (the scheduler): the cache now holds these tokens.
  void set_tokens(std::vector<int32_t> tokens);

  void save_state(const std::string& path) const;
  // Loads a saved state (fingerprint checked) as this session's content.
  void load_state(const std::string& path);

 private:
  Engine& engine_;
  model::KVCache cache_;
  model::InferenceWorkspace ws_;
  std::vector<int32_t> tokens_;
};

}  // namespace longctx::serve
