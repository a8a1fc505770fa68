#include "serve/engine.h"

#include <algorithm>

#include "core/error.h"
#include "rope/rope_spec.h"
#include "serve/kv_state_file.h"

namespace longctx::serve {

namespace {

EngineOptions resolved(const ServingModel& m, EngineOptions o) {
  if (o.context == 0) o.context = m.trained_context;
  LONGCTX_CHECK(o.context > 0, "--ctx must be positive, got %lld", static_cast<long long>(o.context));
  LONGCTX_CHECK(o.chunk > 0, "--chunk must be positive, got %lld", static_cast<long long>(o.chunk));
  LONGCTX_CHECK(o.sequences > 0, "--parallel must be positive, got %lld", static_cast<long long>(o.sequences));
  return o;
}

}  // namespace

Engine::Engine(const ServingModel& model, const EngineOptions& options)
    : model_(model), options_(resolved(model, options)), prefix_cache_(options_.prefix_cache_bytes) {
  model::MemoryPlanRequest r;
  r.config = model.config();
  r.weight_bytes = model.weights.bytes();
  r.weights_mapped = model.mapped;
  r.context = options_.context;
  r.sequences = options_.sequences;
  r.kv_types = options_.kv_types;
  r.prefix_cache_bytes = options_.prefix_cache_bytes;
  r.chunk_rows = options_.chunk;
  r.logits_rows = options_.logits_rows;
  plan_ = model::plan_memory(r, options_.memory_limit);
  model::check_memory_plan(plan_);
  if (options_.context > model.trained_context)
    context_warning_ = strformat(
        "warning: --ctx %lld exceeds the model's trained context of %lld tokens (max_position_embeddings); "
        "position encoding '%s' is applied unchanged beyond it (choose a scaling with --rope)",
        static_cast<long long>(options_.context), static_cast<long long>(model.trained_context),
        rope::format_rope_spec(model.config().rope).c_str());
}

model::Detokenizer continuation_detokenizer(const io::Tokenizer& tok, std::span<const int32_t> prompt) {
  const io::Tokenizer* t = &tok;
  if (prompt.empty() || tok.is_control(prompt.back()))
    return [t](std::span<const int32_t> ids) { return t->decode({ids.begin(), ids.end()}); };
  const int32_t last = prompt.back();
  const size_t skip = tok.decode({last}).size();
  return [t, last, skip](std::span<const int32_t> ids) {
    std::vector<int32_t> all;
    all.reserve(ids.size() + 1);
    all.push_back(last);
    all.insert(all.end(), ids.begin(), ids.end());
    const std::string text = t->decode(all);
    return text.size() >= skip ? text.substr(skip) : std::string();
  };
}

Session::Session(Engine& engine)
    : engine_(engine), cache_(engine.weights().config, engine.context(), engine.options().kv_types) {}

void Session::set_tokens(std::vector<int32_t> tokens) {
  LONGCTX_CHECK(static_cast<int64_t>(tokens.size()) == cache_.position(),
                "Session: %zu tokens for a cache holding %lld", tokens.size(),
                static_cast<long long>(cache_.position()));
  tokens_ = std::move(tokens);
}

int64_t Session::reuse_prefix(std::span<const int32_t> prompt) {
  const int64_t limit = std::max<int64_t>(static_cast<int64_t>(prompt.size()) - 1, 0);
  int64_t own = std::min(model::common_prefix(prompt, tokens_), std::max<int64_t>(limit, 0));
  const int64_t shared = engine_.prefix_cache().match(prompt, limit);
  if (shared > own) {
    own = engine_.prefix_cache().restore(prompt, cache_, limit, shared);
    tokens_.assign(prompt.begin(), prompt.begin() + own);
    return own;
  }
  cache_.truncate(own);
  tokens_.resize(static_cast<size_t>(own));
  return own;
}

SessionResult Session::generate(std::span<const int32_t> prompt, const model::DecodeOptions& options,
                                const model::DecodeCallback& on_token, bool store_prefix) {
  LONGCTX_CHECK(!prompt.empty(), "generate: empty prompt");
  LONGCTX_CHECK(static_cast<int64_t>(prompt.size()) <= cache_.capacity(),
                "the prompt has %zu tokens but the context (--ctx) holds %lld", prompt.size(),
                static_cast<long long>(cache_.capacity()));
  ws_.prepare(engine_.weights().config, engine_.options().chunk);  // once; the scheduler uses its own
  SessionResult r;
  r.cached_tokens = reuse_prefix(prompt);
  const std::span<const int32_t> rest = prompt.subspan(static_cast<size_t>(r.cached_tokens));
  try {
    r.decode = model::decode(engine_.weights(), cache_, ws_, rest, options, on_token);
  } catch (...) {
    // The cache may hold part of the prompt now: forget it rather than guess.
    cache_.reset();
    tokens_.clear();
    throw;
  }
  tokens_.assign(prompt.begin(), prompt.end());
  tokens_.insert(tokens_.end(), r.decode.tokens.begin(), r.decode.tokens.end());
  tokens_.resize(static_cast<size_t>(cache_.position()));  // the last token is not fed
  if (store_prefix) engine_.prefix_cache().store(tokens_, cache_);
  return r;
}

void Session::save_state(const std::string& path) const {
  save_kv_state(path, kv_fingerprint(engine_.model(), engine_.options().kv_types), tokens_, cache_);
}

void Session::load_state(const std::string& path) {
  tokens_ = load_kv_state(path, kv_fingerprint(engine_.model(), engine_.options().kv_types), cache_);
}

}  // namespace longctx::serve
