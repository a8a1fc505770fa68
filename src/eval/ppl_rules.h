// How `eval ppl` turns documents into scored tokens. Every rule is a field here, written
// into the results (to_json) and printed (describe), so a number can always be traced to the
// exact procedure that produced it.
//
// Samples: each document's tokens (as the row's tokenizer encodes the text, or as stored in
// shards; no BOS/EOS) are cut from its start into consecutive, non-overlapping samples of
// the longest evaluated length (plus one token without BOS); samples are taken round-robin
// over the documents (first sample of every document, then the second, ...) up to
// max_samples; shorter documents are skipped. Every length evaluates the same samples.
//
// A sample's stream is x = [BOS] + sample tokens (BOS only when `bos`). At length L the
// targets are x[1..L] (L of them, positions 0..L-1); target p is predicted from x[0..p].
//   prefix  (default): one forward pass over x[0..L); every target scored with all earlier
//           tokens of the sample in context.
//   sliding: passes over windows x[a..a+window) for a = 0, stride, 2 stride, ...; each
//           target is scored once, in the first window that reaches it, so after the first
//           window every target has at least window - stride tokens of context. Windows
//           after the first start mid-sample without BOS (the Hugging Face convention).
//   llamacpp: llama-perplexity's rules instead of samples: each document is tokenized whole
//           with BOS, cut into n_ctx-token chunks (a tail shorter than n_ctx is dropped; at
//           least 2 chunks are required, as llama-perplexity requires), each chunk's first
//           token replaced by BOS, and only the targets of the chunk's second half are scored
//           (positions n_ctx/2 .. n_ctx-2 predicting the next token: n_ctx - n_ctx/2 - 1 per
//           chunk). Perplexity = exp(total NLL / scored tokens) over all chunks of all
//           documents; the +- is llama-perplexity's: ppl * sqrt((E[nll^2] - E[nll]^2)/(n-1)).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace longctx::eval {

enum class PplMode { kPrefix, kSliding, kLlamaCpp };
const char* ppl_mode_name(PplMode mode);
PplMode ppl_mode_from_name(const std::string& name);  // Error naming --mode when unknown

struct PplRules {
  PplMode mode = PplMode::kPrefix;
  bool bos = true;            // prefix / sliding: BOS starts every sample's stream
  int64_t window = 0;         // sliding: tokens per forward pass
  int64_t stride = 0;         // sliding: 0 = window / 2
  int64_t n_ctx = 512;        // llamacpp: chunk length
  int64_t bucket = 500;       // per-position averaging width (the paper's Appendix C: 500)
  int64_t max_samples = 8;    // prefix / sliding: samples over all documents
  void validate() const;      // Error naming the flag
  int64_t effective_stride() const { return stride > 0 ? stride : window / 2; }
  nlohmann::json to_json() const;
  std::string describe() const;  // the rules as printed before a run
};

}  // namespace longctx::eval
