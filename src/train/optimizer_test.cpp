// The optimizer module: decay groups, clipping, the global norm, and that it trains.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "kernels/reference.h"
#include "kernels/testing.h"
#include "model/llama.h"
#include "model/model_test_util.h"

namespace longctx::train {
namespace {

using model::LlamaModel;
using model::ParamEntry;
using model::ParameterSet;

// With zero gradients an AdamW step only decays: decayed tensors shrink by exactly
// (1 - lr * wd), norm weights never change, the embedding only with decay_embeddings.
TEST(AdamW, DecayGroups) {
  for (bool decay_embeddings : {true, false}) {
    LlamaModel m(model::preset_config("test"));
    model::init_weights(m, 1);
    const ParameterSet before = m.params;
    ParameterSet grads(m.config);
    AdamWOptions o;
    o.weight_decay = 0.5;
    o.decay_embeddings = decay_embeddings;
    AdamW opt(m.config, o);
    opt.step(m.params, grads, 0.1, 0.0);
    EXPECT_EQ(opt.steps_taken(), 1);
    int decayed = 0, kept = 0;
    m.params.for_each([&](const ParamEntry& e, float* p) {
      const float* b = before.data() + e.offset;
      const bool norm = e.name.find("norm") != std::string::npos;
      const bool embed = e.name == "model.embed_tokens.weight";
      const bool expect_decay = !norm && (!embed || decay_embeddings);
      EXPECT_EQ(opt.decays(e), expect_decay) << e.name;
      for (int64_t i = 0; i < e.shape.numel(); ++i) {
        const float want = expect_decay ? b[i] - 0.1f * (0.5f * b[i]) : b[i];
        ASSERT_NEAR(p[i], want, 1e-7f * (1 + std::abs(want))) << e.name << "[" << i << "]";
      }
      (expect_decay ? decayed : kept)++;
    });
    EXPECT_GT(decayed, 0);
    EXPECT_GE(kept, 2 * m.config.n_layers + 1);  // norms (and maybe the embedding)
  }
}

// The global norm is the double L2 norm of the whole buffer; clipping scales the gradients
// to clip_norm before the update, matching the scalar reference AdamW on the scaled gradient.
TEST(AdamW, GlobalNormAndClipping) {
  const model::ModelConfig cfg = model::test::tiny_check_config(2, false);
  ParameterSet params(cfg), grads(cfg);
  model::test::randomize(params, 3);
  ::longctx::testing::fill_normal(grads.data(), static_cast<int64_t>(grads.size()), 4, 1.0);
  double ss = 0;
  for (size_t i = 0; i < grads.size(); ++i) ss += double(grads.data()[i]) * grads.data()[i];
  const double norm = AdamW::global_norm(grads);
  EXPECT_NEAR(norm, std::sqrt(ss), 1e-12 * std::sqrt(ss));

  AdamWOptions o;
  o.clip_norm = 1.0;
  o.weight_decay = 0;
  AdamW opt(cfg, o);
  std::vector<double> p64(params.data(), params.data() + params.size());
  std::vector<double> g64(grads.data(), grads.data() + grads.size());
  const OptimizerStepStats st = opt.step(params, grads, 1e-2, norm);
  EXPECT_NEAR(st.clip_scale, 1.0 / norm, 1e-6 / norm);
  EXPECT_NEAR(AdamW::global_norm(grads), 1.0, 1e-5);  // clipped in place
  const double scale = st.clip_scale;
  for (double& g : g64) g *= scale;
  std::vector<double> m(p64.size(), 0.0), v(p64.size(), 0.0);
  kernels::AdamWParams hp;
  hp.lr = 1e-2f, hp.weight_decay = 0, hp.beta1 = 0.9f, hp.beta2 = 0.95f, hp.eps = 1e-8f;
  kernels::ref::adamw_update(p64.data(), g64.data(), m.data(), v.data(),
                             static_cast<int64_t>(p64.size()), hp, 1);
  const double err = ::longctx::testing::max_rel_error(params.data(), p64.data(),
                                                       static_cast<int64_t>(p64.size()));
  EXPECT_LT(err, 1e-5);  // float update vs double reference, relative L2
  // Below the limit nothing is scaled.
  const OptimizerStepStats small = opt.step(params, grads, 1e-2, 0.5);
  EXPECT_EQ(small.clip_scale, 1.0);
  EXPECT_THROW(AdamW(cfg, AdamWOptions{.beta1 = 1.0}), Error);
  EXPECT_THROW(AdamW(cfg, AdamWOptions{.clip_norm = -1}), Error);
}

// A few AdamW steps on one fixed batch memorise it: the loss falls from ~ln(V).
TEST(AdamW, OverfitsATinyBatch) {
  LlamaModel model(model::preset_config("test"));
  model::init_weights(model, 8);
  const int64_t B = 2, T = 24;
  const auto tokens = ::longctx::testing::random_ints(
      B * T, 16, 0, static_cast<int32_t>(model.config.vocab_size - 1));
  const auto targets = model::test::shifted_targets(tokens, B, T, 7);
  ParameterSet grads(model.config);
  model::TrainWorkspace ws;
  AdamWOptions o;
  o.weight_decay = 0.01;
  o.clip_norm = 0;
  AdamW opt(model.config, o);
  const int kSteps = 60;
  double first = 0.0, last = 0.0;
  for (int step = 1; step <= kSteps; ++step) {
    grads.zero();
    const kernels::LossSum ls =
        model::forward_backward(model, grads, tokens.data(), targets.data(), B, T, {}, ws);
    const double loss = ls.loss_sum / static_cast<double>(ls.n_valid);
    if (step == 1) first = loss;
    last = loss;
    opt.step(model.params, grads, 1e-2, AdamW::global_norm(grads));
  }
  std::printf("  overfit: loss %.3f -> %.3f after %d steps\n", first, last, kSteps);
  EXPECT_NEAR(first, std::log(static_cast<double>(model.config.vocab_size)), 0.1);
  EXPECT_LT(last, 0.25);  // threshold: below 6% of the initial ~4.16 nats
}

}  // namespace
}  // namespace longctx::train
