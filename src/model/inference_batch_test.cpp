// The batched inference forward against the training forward: several sequences at once
// (prefill chunks and decode rows mixed, rounds smaller than the prompts), logits of every
// prompt position, typed weights against the training forward on the same (dequantised)
// values, and typed KV caches (prefill and token-by-token decode agree on the same cache).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/testing.h"
#include "model/inference.h"
#include "model/model_test_util.h"

namespace longctx::model {
namespace {

using kernels::StorageType;
using test::kLogitTol;
using test::logit_error;
using test::random_model;
using test::training_logits;

// A config whose every row length is a multiple of 32 (Q8_0 weights and caches).
ModelConfig q8_config() {
  ModelConfig c;
  c.dim = 64, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.ffn_dim = 96, c.vocab_size = 64,
  c.max_seq_len = 256;
  return c;
}

TEST(InferenceBatch, SequencesTogetherEqualTheTrainingForward) {
  const LlamaModel model = random_model(preset_config("test"), 41);
  const InferenceWeights w = InferenceWeights::view(model);
  const int64_t V = model.config.vocab_size;
  const std::vector<int64_t> lengths = {23, 5, 40};
  std::vector<std::vector<int32_t>> seqs;
  for (size_t i = 0; i < lengths.size(); ++i)
    seqs.push_back(testing::random_ints(lengths[i] + 3, 42 + i, 0, static_cast<int32_t>(V - 1)));
  std::vector<KVCache> caches;
  for (size_t i = 0; i < seqs.size(); ++i) caches.emplace_back(model.config, 64);
  InferenceWorkspace ws(model.config, 16);  // 68 prompt rows -> several rounds, mixed sequences
  std::vector<std::vector<float>> logits(seqs.size());
  std::vector<SequenceStep> steps(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t n = lengths[i];
    logits[i].resize(static_cast<size_t>(n * V));
    steps[i].cache = &caches[i];
    steps[i].tokens = std::span<const int32_t>(seqs[i].data(), static_cast<size_t>(n));
    steps[i].logits = logits[i].data();
    steps[i].all_logits = i != 1;  // sequence 1: last token only
  }
  forward_batch(w, steps, ws);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::vector<float> train = training_logits(model, seqs[i]);
    const int64_t n = lengths[i];
    if (i == 1) {
      EXPECT_LT(logit_error(logits[i].data(), train.data() + (n - 1) * V, V), kLogitTol);
      continue;
    }
    double worst = 0;
    for (int64_t t = 0; t < n; ++t) worst = std::max(worst, logit_error(logits[i].data() + t * V, train.data() + t * V, V));
    EXPECT_LT(worst, kLogitTol) << "sequence " << i;
  }
  // Three decode steps of all sequences in one call each.
  for (int64_t k = 0; k < 3; ++k) {
    for (size_t i = 0; i < seqs.size(); ++i) {
      steps[i].tokens = std::span<const int32_t>(seqs[i].data() + lengths[i] + k, 1);
      steps[i].all_logits = false;
    }
    forward_batch(w, steps, ws);
    for (size_t i = 0; i < seqs.size(); ++i) {
      const std::vector<float> train = training_logits(model, seqs[i]);
      EXPECT_LT(logit_error(logits[i].data(), train.data() + (lengths[i] + k) * V, V), kLogitTol)
          << "sequence " << i << " decode step " << k;
    }
  }
}

// RoPE tables are windows over each sequence's positions, looked up once per round for all
// layers: ten sequences far apart (more windows than one table could serve) decode together
// as the training forward says, and the tables held stay within the plan's count (each
// sequence's window of this round and the last).
TEST(InferenceBatch, SequencesInDifferentRopeWindowsDecodeTogether) {
  const LlamaModel model = random_model(preset_config("test"), 47);
  const InferenceWeights w = InferenceWeights::view(model);
  const int64_t V = model.config.vocab_size;
  const std::vector<int64_t> lengths = {3, 520, 70, 600, 9, 515, 130, 1030, 45, 530};
  const int64_t S = static_cast<int64_t>(lengths.size()), rows = 64, ctx = 1040;
  std::vector<std::vector<int32_t>> seqs;
  std::vector<KVCache> caches;
  for (int64_t i = 0; i < S; ++i) {
    seqs.push_back(testing::random_ints(lengths[i] + 2, 48 + i, 0, static_cast<int32_t>(V - 1)));
    caches.emplace_back(model.config, ctx);
  }
  InferenceWorkspace ws(model.config, rows);
  std::vector<std::vector<float>> logits(static_cast<size_t>(S), std::vector<float>(V));
  std::vector<SequenceStep> steps(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {  // each prompt on its own
    steps[i].cache = &caches[i];
    steps[i].tokens = std::span<const int32_t>(seqs[i].data(), static_cast<size_t>(lengths[i]));
    steps[i].logits = logits[i].data();
    forward_batch(w, std::span<SequenceStep>(&steps[i], 1), ws);
  }
  std::vector<std::vector<float>> train;
  for (int64_t i = 0; i < S; ++i) train.push_back(training_logits(model, seqs[i]));
  for (int64_t k = 0; k < 2; ++k) {  // then all of them, one token each, in one call
    for (int64_t i = 0; i < S; ++i)
      steps[i].tokens = std::span<const int32_t>(seqs[i].data() + lengths[i] + k, 1);
    forward_batch(w, steps, ws);
    for (int64_t i = 0; i < S; ++i) {
      EXPECT_LT(logit_error(logits[i].data(), train[i].data() + (lengths[i] + k) * V, V), kLogitTol)
          << "sequence " << i << " decode step " << k;
    }
  }
  const size_t tables = ws.bytes() - InferenceWorkspace::bytes_for(model.config, rows);
  EXPECT_GT(tables, size_t{0});
  EXPECT_LE(tables, InferenceWorkspace::rope_bytes_for(model.config, ctx, rows, S, false));
}

TEST(InferenceBatch, BadStepsThrowBeforeAnyChange) {
  const LlamaModel model = random_model(preset_config("test"), 43);
  const InferenceWeights w = InferenceWeights::view(model);
  InferenceWorkspace ws(model.config, 8);
  KVCache a(model.config, 8);
  const std::vector<int32_t> ok = {1, 2, 3};
  std::vector<SequenceStep> steps(2);
  steps[0].cache = &a;
  steps[0].tokens = ok;
  steps[1].cache = &a;  // the same cache twice
  steps[1].tokens = ok;
  EXPECT_THROW(forward_batch(w, steps, ws), Error);
  KVCache b(model.config, 8);
  steps[1].cache = &b;
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(model.config.vocab_size)};
  steps[1].tokens = bad;
  EXPECT_THROW(forward_batch(w, steps, ws), Error);
  EXPECT_EQ(a.position(), 0);
  EXPECT_EQ(b.position(), 0);
}

// Typed weights: logits of the engine on bf16 / Q8_0 weights equal the training forward of
// a model holding the same dequantised values: bf16 to float summation order; Q8_0 within
// what quantising the activations to Q8 blocks in the decode kernel adds (typed_matmul.h;
// the size of a Q8_0 value cache's effect, see TypedCachesPrefillAndDecodeAgree).
TEST(InferenceBatch, TypedWeightsMatchTrainingForwardOnTheSameValues) {
  const LlamaModel model = random_model(q8_config(), 44);
  const int64_t V = model.config.vocab_size, T = 30;
  const auto tokens = testing::random_ints(T, 45, 0, static_cast<int32_t>(V - 1));
  for (StorageType t : {StorageType::kBF16, StorageType::kQ8_0}) {
    SCOPED_TRACE(kernels::storage_type_name(t));
    const InferenceWeights typed = InferenceWeights::view(model).converted(t);
    EXPECT_EQ(typed.type_summary(), kernels::storage_type_name(t));
    LlamaModel same = model;  // every matrix through the storage type and back
    same.params.for_each([&](const ParamEntry& e, float* x) {
      if (e.shape.ndim != 2) return;
      const int64_t rows = e.shape[0], cols = e.shape[1];
      std::vector<uint8_t> stored(kernels::storage_row_bytes(t, cols) * rows);
      kernels::quantize_rows(stored.data(), t, x, rows, cols);
      kernels::dequantize_rows(x, t, stored.data(), kernels::storage_row_bytes(t, cols), rows, cols);
    });
    const std::vector<float> train = training_logits(same, tokens);
    KVCache cache(model.config, T);
    InferenceWorkspace ws(model.config, 8);
    std::vector<float> logits(static_cast<size_t>(T * V));
    SequenceStep s;
    s.cache = &cache;
    s.tokens = tokens;
    s.logits = logits.data();
    s.all_logits = true;
    forward_batch(typed, std::span<SequenceStep>(&s, 1), ws);
    double worst = 0;
    for (int64_t i = 0; i < T; ++i) worst = std::max(worst, logit_error(logits.data() + i * V, train.data() + i * V, V));
    EXPECT_LT(worst, t == StorageType::kQ8_0 ? 6e-2 : kLogitTol);
    // And the typed model really differs from the f32 one (the test would notice a silent f32 path).
    const std::vector<float> f32 = training_logits(model, tokens);
    EXPECT_GT(logit_error(logits.data() + (T - 1) * V, f32.data() + (T - 1) * V, V), 1e-6);
  }
}

// Typed caches: a chunked prefill (tiled attention converting the stored rows as it packs
// them) and token-by-token decode (decode attention over the stored rows) see the same
// stored keys and values, so their logits agree to float rounding; and the stored types
// stay close to the f32 cache.
TEST(InferenceBatch, TypedCachesPrefillAndDecodeAgree) {
  const LlamaModel model = random_model(q8_config(), 46);
  const InferenceWeights w = InferenceWeights::view(model);
  const int64_t V = model.config.vocab_size, T = 37;
  const auto tokens = testing::random_ints(T, 47, 0, static_cast<int32_t>(V - 1));
  const std::vector<float> train = training_logits(model, tokens);
  const std::vector<std::pair<KvTypes, double>> cases = {
      {{StorageType::kF32, StorageType::kF32}, kLogitTol},
      {{StorageType::kBF16, StorageType::kBF16}, 3e-2},
      {{StorageType::kF32, StorageType::kQ8_0}, 3e-2},
      {{StorageType::kQ8_0, StorageType::kQ8_0}, 6e-2}};
  for (const auto& [types, tol_vs_f32] : cases) {
    SCOPED_TRACE(format_kv_types(types));
    InferenceWorkspace ws(model.config, 8);
    KVCache prefill(model.config, T, types), decode(model.config, T, types);
    std::vector<float> a(static_cast<size_t>(V)), b(static_cast<size_t>(V));
    forward_tokens(w, prefill, ws, tokens.data(), T, a.data());
    for (int64_t t = 0; t < T; ++t) forward_tokens(w, decode, ws, &tokens[t], 1, b.data());
    EXPECT_LT(logit_error(a.data(), b.data(), V), kLogitTol) << "prefill vs decode on one stored cache";
    EXPECT_LT(logit_error(a.data(), train.data() + (T - 1) * V, V), tol_vs_f32) << "vs the f32 forward";
    EXPECT_EQ(prefill.bytes(), kv_cache_bytes(model.config, T, types));
  }
}

}  // namespace
}  // namespace longctx::model
