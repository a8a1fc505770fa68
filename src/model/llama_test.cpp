// Model layer tests: parameter layout, config validation, recomputation and
// determinism (bit-identical), accumulation, evaluation path, document masking,
// workspace memory and input errors (the AdamW overfit check is in train/optimizer_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/testing.h"
#include "model/llama.h"
#include "model/model_test_util.h"

namespace longctx::model {
namespace {

bool bit_identical(const ParameterSet& a, const ParameterSet& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(ParameterSet, LayoutNamesOrderAndFusedBlocks) {
  const ModelConfig cfg = preset_config("test");
  ParameterSet p(cfg);
  const int64_t C = cfg.dim, D = cfg.resolved_head_dim(), F = cfg.ffn_dim;
  ASSERT_EQ(static_cast<int64_t>(p.size()), cfg.num_parameters());
  ASSERT_EQ(p.entries().size(), static_cast<size_t>(2 + 9 * cfg.n_layers + 1));
  EXPECT_EQ(p.entries().front().name, "model.embed_tokens.weight");
  EXPECT_EQ(p.entries().back().name, "lm_head.weight");
  size_t expected_offset = 0;
  for (const ParamEntry& e : p.entries()) {
    EXPECT_EQ(e.offset, expected_offset) << e.name;  // packed back to back, in order
    expected_offset += static_cast<size_t>(e.shape.numel());
    EXPECT_EQ(e.weight_decay, e.shape.ndim == 2) << e.name;
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.data()) % 64, 0u);
  const ParamEntry* q = p.find("model.layers.1.self_attn.q_proj.weight");
  const ParamEntry* k = p.find("model.layers.1.self_attn.k_proj.weight");
  const ParamEntry* v = p.find("model.layers.1.self_attn.v_proj.weight");
  ASSERT_TRUE(q && k && v);
  EXPECT_EQ(q->shape, Shape({cfg.n_heads * D, C}));
  EXPECT_EQ(k->shape, Shape({cfg.n_kv_heads * D, C}));
  EXPECT_EQ(k->offset, q->offset + static_cast<size_t>(q->shape.numel()));
  EXPECT_EQ(v->offset, k->offset + static_cast<size_t>(k->shape.numel()));
  const ParamEntry* gate = p.find("model.layers.0.mlp.gate_proj.weight");
  const ParamEntry* up = p.find("model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(up->offset, gate->offset + static_cast<size_t>(F * C));
  const LayerWeights w = p.layer(1);
  EXPECT_EQ(w.wqkv, p.data() + q->offset);
  EXPECT_EQ(w.w_gate_up, p.ptr("model.layers.1.mlp.gate_proj.weight"));
  EXPECT_EQ(w.w_down, p.ptr("model.layers.1.mlp.down_proj.weight"));
  EXPECT_EQ(w.wo, p.ptr("model.layers.1.self_attn.o_proj.weight"));
  EXPECT_EQ(w.ffn_norm, p.ptr("model.layers.1.post_attention_layernorm.weight"));
  EXPECT_EQ(p.lm_head(), p.ptr("lm_head.weight"));
  EXPECT_EQ(p.final_norm(), p.ptr("model.norm.weight"));
  try {
    p.view("model.layers.9.mlp.up_proj.weight");
    FAIL() << "no error for a missing tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.9.mlp.up_proj.weight"), std::string::npos);
  }
}

TEST(ParameterSet, TiedHasNoHeadAndCopiesAreDeep) {
  ModelConfig cfg = preset_config("test");
  cfg.tied_embeddings = true;
  ParameterSet p(cfg);
  EXPECT_EQ(p.find("lm_head.weight"), nullptr);
  EXPECT_EQ(p.lm_head(), p.embedding());
  EXPECT_EQ(static_cast<int64_t>(p.size()), cfg.num_parameters());
  p.data()[3] = 1.5f;
  ParameterSet q = p;
  q.data()[3] = 2.5f;
  EXPECT_EQ(p.data()[3], 1.5f);
  EXPECT_EQ(q.view("model.norm.weight").data, q.final_norm());
}

TEST(ModelConfig, PresetsAndValidationNameTheField) {
  const ModelConfig tiny = preset_config("tiny");
  EXPECT_EQ(tiny.dim, 256);
  EXPECT_EQ(tiny.n_kv_heads, 4);
  EXPECT_EQ(tiny.ffn_dim, 688);
  EXPECT_NO_THROW(tiny.validate());
  const ModelConfig small = preset_config("small");
  EXPECT_EQ(small.vocab_size, 32000);
  EXPECT_EQ(small.max_seq_len, 32768);
  EXPECT_GT(small.num_parameters(), 120'000'000);  // "about 125M parameters" (issue 2)
  EXPECT_LT(small.num_parameters(), 130'000'000);
  auto expect_error_naming = [](ModelConfig c, const char* field) {
    try {
      c.validate();
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  ModelConfig c = preset_config("test");
  c.n_kv_heads = 3;
  expect_error_naming(c, "n_kv_heads");
  c = preset_config("test");
  c.head_dim = 7;
  expect_error_naming(c, "head_dim");
  c = preset_config("test");
  c.dim = 30;  // not divisible by 4 heads, head_dim derived
  expect_error_naming(c, "head_dim");
  c = preset_config("test");
  c.vocab_size = 0;
  expect_error_naming(c, "vocab_size");
  c = preset_config("test");
  c.norm_eps = 0.0f;
  expect_error_naming(c, "norm_eps");
  EXPECT_THROW(preset_config("huge"), Error);
}

struct Batch {
  int64_t B, T;
  std::vector<int32_t> tokens, targets;
};

Batch random_batch(const ModelConfig& cfg, int64_t B, int64_t T, uint64_t seed) {
  Batch b{B, T, testing::random_ints(B * T, seed, 0, static_cast<int32_t>(cfg.vocab_size - 1)), {}};
  b.targets = test::shifted_targets(b.tokens, B, T, /*ignore_every=*/7);
  return b;
}

TEST(LlamaTraining, RecomputeAndRepeatsAreBitIdentical) {
  LlamaModel model(preset_config("test"));
  init_weights(model, 3);
  test::randomize(model.params, 3);
  const Batch b = random_batch(model.config, 2, 37, 11);
  ParameterSet g_store(model.config), g_recompute(model.config), g_again(model.config);
  TrainWorkspace ws_store, ws_recompute;
  StepOptions opt;
  const kernels::LossSum l1 =
      forward_backward(model, g_store, b.tokens.data(), b.targets.data(), b.B, b.T, opt, ws_store);
  opt.recompute = true;
  const kernels::LossSum l2 = forward_backward(model, g_recompute, b.tokens.data(), b.targets.data(),
                                               b.B, b.T, opt, ws_recompute);
  EXPECT_EQ(l1.loss_sum, l2.loss_sum);  // bit-identical: same kernels on the same inputs
  EXPECT_EQ(l1.n_valid, l2.n_valid);
  EXPECT_TRUE(bit_identical(g_store, g_recompute));
  // Determinism: the same call again (reused workspace) gives the same bits.
  opt.recompute = false;
  const kernels::LossSum l3 =
      forward_backward(model, g_again, b.tokens.data(), b.targets.data(), b.B, b.T, opt, ws_store);
  EXPECT_EQ(l1.loss_sum, l3.loss_sum);
  EXPECT_TRUE(bit_identical(g_store, g_again));
  EXPECT_GT(testing::dot(g_store.data(), g_store.data(), static_cast<int64_t>(g_store.size())), 0.0);
}

TEST(LlamaTraining, GradientsAccumulateAndNormalizerScales) {
  LlamaModel model(preset_config("test"));
  init_weights(model, 4);
  const Batch b = random_batch(model.config, 1, 20, 12);
  ParameterSet once(model.config), twice(model.config), halved(model.config);
  TrainWorkspace ws;
  StepOptions opt;
  const auto n = static_cast<int64_t>(once.size());
  const kernels::LossSum ls =
      forward_backward(model, once, b.tokens.data(), b.targets.data(), b.B, b.T, opt, ws);
  forward_backward(model, twice, b.tokens.data(), b.targets.data(), b.B, b.T, opt, ws);
  forward_backward(model, twice, b.tokens.data(), b.targets.data(), b.B, b.T, opt, ws);
  ParameterSet expect2 = once, expect_half = once;
  for (int64_t i = 0; i < n; ++i) expect2.data()[i] *= 2.0f;
  EXPECT_LT(testing::max_rel_error(twice.data(), expect2.data(), n), 1e-6);  // += (1e-6: rounding)
  StepOptions half;
  half.grad_normalizer = 2 * ls.n_valid;
  forward_backward(model, halved, b.tokens.data(), b.targets.data(), b.B, b.T, half, ws);
  for (int64_t i = 0; i < n; ++i) expect_half.data()[i] *= 0.5f;
  EXPECT_LT(testing::max_rel_error(halved.data(), expect_half.data(), n), 1e-6);
}

TEST(LlamaTraining, ForwardLossMatchesTrainingLoss) {
  LlamaModel model(preset_config("test"));
  init_weights(model, 5);
  test::randomize(model.params, 5);
  const Batch b = random_batch(model.config, 3, 19, 13);
  ParameterSet g(model.config);
  TrainWorkspace ws;
  const kernels::LossSum train = forward_backward(model, g, b.tokens.data(), b.targets.data(), b.B, b.T, {}, ws);
  std::vector<float> per_token(static_cast<size_t>(b.B * b.T), -1.0f);
  TrainWorkspace ws_eval;
  const kernels::LossSum eval =
      forward_loss(model, b.tokens.data(), b.targets.data(), b.B, b.T, ws_eval, per_token.data());
  EXPECT_EQ(eval.n_valid, train.n_valid);
  EXPECT_NEAR(eval.loss_sum, train.loss_sum, 1e-6 * train.loss_sum);
  double sum = 0.0;
  for (size_t i = 0; i < per_token.size(); ++i) {
    if (b.targets[i] == kernels::kIgnoreIndex) {
      EXPECT_EQ(per_token[i], 0.0f);
    }
    sum += per_token[i];
  }
  EXPECT_NEAR(sum, eval.loss_sum, 1e-5 * eval.loss_sum);
  // The training workspace also serves a forward-only call of the same shape.
  const kernels::LossSum eval2 = forward_loss(model, b.tokens.data(), b.targets.data(), b.B, b.T, ws);
  EXPECT_EQ(eval2.loss_sum, eval.loss_sum);
}

// RoPE is relative, so a document packed after another one with segment ids
// scores the same as that document alone.
TEST(LlamaTraining, SegmentIdsIsolatePackedDocuments) {
  LlamaModel model(preset_config("test"));
  init_weights(model, 6);
  test::randomize(model.params, 6);
  const int64_t Ta = 9, Tb = 14, T = Ta + Tb;
  const Batch packed = random_batch(model.config, 1, T, 14);
  std::vector<int32_t> targets = test::shifted_targets(packed.tokens, 1, T);
  targets[Ta - 1] = kernels::kIgnoreIndex;  // no prediction across the boundary
  std::vector<int32_t> seg(static_cast<size_t>(T), 0);
  for (int64_t t = Ta; t < T; ++t) seg[static_cast<size_t>(t)] = 1;
  TrainWorkspace ws;
  const kernels::LossSum whole =
      forward_loss(model, packed.tokens.data(), targets.data(), 1, T, ws, nullptr, seg.data());
  const kernels::LossSum a = forward_loss(model, packed.tokens.data(), targets.data(), 1, Ta, ws);
  const kernels::LossSum bb =
      forward_loss(model, packed.tokens.data() + Ta, targets.data() + Ta, 1, Tb, ws);
  EXPECT_EQ(whole.n_valid, a.n_valid + bb.n_valid);
  EXPECT_NEAR(whole.loss_sum, a.loss_sum + bb.loss_sum, 1e-5 * whole.loss_sum);
  const kernels::LossSum unmasked = forward_loss(model, packed.tokens.data(), targets.data(), 1, T, ws);
  EXPECT_GT(std::fabs(unmasked.loss_sum - whole.loss_sum), 1e-3);  // the mask did something
}

TEST(LlamaTraining, RecomputeStoresOnlyTheResidualStreamPerLayer) {
  // Doubling the depth must add exactly one residual stream (N, C) per extra layer
  // with recomputation, and a whole layer's activations without it.
  ModelConfig shallow = preset_config("tiny"), deep = preset_config("tiny");
  deep.n_layers = 2 * shallow.n_layers;
  const int64_t B = 1, T = 256, N = B * T, extra = deep.n_layers - shallow.n_layers;
  auto bytes = [&](const ModelConfig& cfg, WorkspaceLayout layout) {
    TrainWorkspace ws;
    ws.prepare(cfg, B, T, layout);
    return static_cast<int64_t>(ws.bytes());
  };
  const int64_t rc_shallow = bytes(shallow, WorkspaceLayout::kRecompute);
  const int64_t rc_deep = bytes(deep, WorkspaceLayout::kRecompute);
  const int64_t all_shallow = bytes(shallow, WorkspaceLayout::kStoreAll);
  const int64_t all_deep = bytes(deep, WorkspaceLayout::kStoreAll);
  const int64_t stream = N * shallow.dim * static_cast<int64_t>(sizeof(float));
  EXPECT_EQ(rc_deep - rc_shallow, extra * stream);
  const int64_t per_layer = (all_deep - all_shallow) / extra;
  EXPECT_GT(per_layer, 4 * stream);  // q, k, v, att, x_mid, gu: several streams' worth
  // One layer's activations + backward scratch on top of the streams, nothing per layer.
  EXPECT_LT(rc_shallow - (shallow.n_layers + 1) * stream, 3 * per_layer);
  std::printf("  tiny T=%lld: store-all %.1f MB, recompute %.1f MB, per layer %.1f MB stored\n",
              static_cast<long long>(T), all_shallow / 1e6, rc_shallow / 1e6, per_layer / 1e6);
}

TEST(LlamaTraining, BadInputsThrowErrors) {
  LlamaModel model(preset_config("test"));
  init_weights(model, 7);
  Batch b = random_batch(model.config, 1, 8, 15);
  ParameterSet g(model.config);
  TrainWorkspace ws;
  b.tokens[3] = static_cast<int32_t>(model.config.vocab_size);
  EXPECT_THROW(forward_backward(model, g, b.tokens.data(), b.targets.data(), 1, 8, {}, ws), Error);
  b.tokens[3] = 0;
  b.targets[2] = -5;
  EXPECT_THROW(forward_backward(model, g, b.tokens.data(), b.targets.data(), 1, 8, {}, ws), Error);
  b.targets[2] = 0;
  ModelConfig other = model.config;
  other.n_layers = 1;
  ParameterSet wrong(other);
  EXPECT_THROW(forward_backward(model, wrong, b.tokens.data(), b.targets.data(), 1, 8, {}, ws), Error);
  EXPECT_THROW(forward_backward(model, g, b.tokens.data(), b.targets.data(), 1, 0, {}, ws), Error);
  // All targets ignored: zero loss, zero gradients, no NaN.
  std::vector<int32_t> none(8, kernels::kIgnoreIndex);
  const kernels::LossSum ls = forward_backward(model, g, b.tokens.data(), none.data(), 1, 8, {}, ws);
  EXPECT_EQ(ls.n_valid, 0);
  EXPECT_EQ(testing::dot(g.data(), g.data(), static_cast<int64_t>(g.size())), 0.0);
}

}  // namespace
}  // namespace longctx::model
