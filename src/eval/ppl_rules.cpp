#include "eval/ppl_rules.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace longctx::eval {

const char* ppl_mode_name(PplMode mode) {
  switch (mode) {
    case PplMode::kPrefix: return "prefix";
    case PplMode::kSliding: return "sliding";
    case PplMode::kLlamaCpp: return "llamacpp";
  }
  return "unknown";
}

PplMode ppl_mode_from_name(const std::string& name) {
  for (const PplMode m : {PplMode::kPrefix, PplMode::kSliding, PplMode::kLlamaCpp})
    if (name == ppl_mode_name(m)) return m;
  throw_error("--mode: '%s' is not prefix, sliding or llamacpp", name.c_str());
}

void PplRules::validate() const {
  LONGCTX_CHECK(bucket >= 1, "--bucket: must be >= 1 token, got %lld", static_cast<long long>(bucket));
  LONGCTX_CHECK(max_samples >= 1, "--samples: must be >= 1, got %lld",
                static_cast<long long>(max_samples));
  if (mode == PplMode::kSliding) {
    LONGCTX_CHECK(window >= 2, "--window: sliding mode needs a window of >= 2 tokens, got %lld",
                  static_cast<long long>(window));
    LONGCTX_CHECK(effective_stride() >= 1 && effective_stride() <= window,
                  "--stride: must be in [1, window = %lld], got %lld", static_cast<long long>(window),
                  static_cast<long long>(effective_stride()));
  }
  if (mode == PplMode::kLlamaCpp)
    LONGCTX_CHECK(n_ctx >= 4, "--ctx: llamacpp mode needs a chunk of >= 4 tokens, got %lld",
                  static_cast<long long>(n_ctx));
}

nlohmann::json PplRules::to_json() const {
  nlohmann::json j = {{"mode", ppl_mode_name(mode)}, {"bucket", bucket}, {"description", describe()}};
  if (mode == PplMode::kLlamaCpp) {
    j["n_ctx"] = n_ctx;
    j["bos"] = "replaces the first token of every chunk";
    j["scored"] = "targets of positions n_ctx/2 .. n_ctx-2 of every chunk";
  } else {
    j["bos"] = bos ? "before each sample's first token" : "none";
    j["max_samples"] = max_samples;
    if (mode == PplMode::kSliding) {
      j["window"] = window;
      j["stride"] = effective_stride();
      j["scored"] = "every target once, in the first window reaching it";
    } else {
      j["scored"] = "every target, with the whole sample prefix in context";
    }
  }
  return j;
}

std::string PplRules::describe() const {
  if (mode == PplMode::kLlamaCpp)
    return strformat(
        "llama-perplexity chunking: each document tokenized whole with BOS, cut into %lld-token "
        "chunks (tail dropped), first token of each chunk replaced by BOS, targets of positions "
        "%lld..%lld scored (%lld per chunk)",
        static_cast<long long>(n_ctx), static_cast<long long>(n_ctx / 2),
        static_cast<long long>(n_ctx - 2), static_cast<long long>(n_ctx - n_ctx / 2 - 1));
  std::string s = strformat(
      "samples: consecutive pieces of each document, up to %lld round-robin over documents, the "
      "same samples at every length; %s; at length L the L targets after ",
      static_cast<long long>(max_samples),
      bos ? "BOS before each sample's first token" : "no BOS");
  s += bos ? "BOS" : "the first token";
  if (mode == PplMode::kSliding)
    s += strformat(" are scored once each in %lld-token windows moved by %lld (no BOS in later "
                   "windows)",
                   static_cast<long long>(window), static_cast<long long>(effective_stride()));
  else
    s += " are all scored in one pass with the whole prefix in context";
  s += strformat("; per-position loss averaged in buckets of %lld positions",
                 static_cast<long long>(bucket));
  return s;
}

}  // namespace longctx::eval
