// What inference does with position encodings whose frequencies depend on the sequence
// length (dynamic NTK: the base grows with the length past the original context; LongRoPE:
// short factors up to the original context, long factors beyond). docs/serve.md,
// "Position encodings", states the policy; in short:
//
// - A prompt (everything one forward call appends, however it is chunked) is encoded with
//   the frequencies of the length it reaches, as the training forward (and Hugging Face's
//   forward over a whole prompt) does: the logits after a chunked prefill equal those of
//   one training forward over the same tokens.
// - Keys already in the cache are re-rotated to the new frequencies whenever they change
//   (each decoded token past the original context under dynamic NTK; once, at the switch,
//   under LongRoPE), so every attention score uses one consistent set of frequencies and
//   depends only on relative positions. Other engines keep keys rotated with the old
//   frequencies, which silently mixes two encodings in one attention.
// - Values and the hidden states of earlier tokens are not recomputed: re-rotation makes
//   the attention consistent, not identical to re-running the whole prefix.
#pragma once
#include <cstdint>

#include "kernels/rope_apply.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace longctx::model {

// Frequencies of the model's position encoding for a sequence of `length` tokens.
kernels::RopeFreqs rope_freqs_for_length(const ModelConfig& config, int64_t length);

// True when rope_freqs_for_length depends on the length (dynamic NTK, LongRoPE).
bool rope_depends_on_length(const ModelConfig& config);

bool same_rope_freqs(const kernels::RopeFreqs& a, const kernels::RopeFreqs& b);

// Rotates every stored key of rows [0, position) from cache.key_freqs() to `to` (exact
// for f32 keys up to rounding; quantised keys are converted, rotated and stored again)
// and records `to` as the keys' frequencies. Throws Error when xPos decay differs (no
// length-dependent kind changes it).
void rerotate_keys(KVCache& cache, const kernels::RopeFreqs& to);

// Context shift (the server's opt-in overflow policy): drops cache rows
// [n_keep, n_keep + n_discard), moves the later rows down by n_discard and rotates their keys
// back by n_discard positions, so the cache holds a valid, shorter sequence whose first
// n_keep tokens are unchanged. Error for xPos (its key scales depend on the absolute
// position) and for ranges outside the cache.
void shift_context(KVCache& cache, int64_t n_keep, int64_t n_discard);

}  // namespace longctx::model
