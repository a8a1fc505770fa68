// The layer-by-layer evaluation forward against the training forward: per-token losses of
// forward_hidden_long + the fused head equal forward_loss's for every RoPE kind, chunk sizes
// that do and do not divide T, and T shorter than a chunk; and the size estimate is what
// the workspace allocates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cross_entropy.h"
#include "kernels/testing.h"
#include "model/forward_long.h"
#include "model/llama.h"
#include "model/model_test_util.h"

namespace longctx::model {
namespace {

// Float paths that differ only in summation order (BLAS shapes, attention tiling):
// |loss difference| <= 2e-5 * (1 + |loss|).
constexpr double kLossTol = 2e-5;

std::vector<float> losses_long(const LlamaModel& m, const std::vector<int32_t>& tokens,
                               const std::vector<int32_t>& targets, int64_t chunk) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  LongForwardWorkspace ws;
  const float* h = forward_hidden_long(m, tokens.data(), T, ws, chunk);
  std::vector<float> losses(static_cast<size_t>(T));
  kernels::lm_head_cross_entropy_forward(losses.data(), h, m.params.lm_head(), targets.data(), T,
                                         m.config.dim, m.config.vocab_size);
  return losses;
}

std::vector<float> losses_training(const LlamaModel& m, const std::vector<int32_t>& tokens,
                                   const std::vector<int32_t>& targets) {
  const int64_t T = static_cast<int64_t>(tokens.size());
  TrainWorkspace ws;
  std::vector<float> losses(static_cast<size_t>(T));
  forward_loss(m, tokens.data(), targets.data(), 1, T, ws, losses.data());
  return losses;
}

double worst_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) / (1.0 + std::fabs(double(b[i]))));
  return worst;
}

TEST(ForwardLong, LossesMatchTrainingForwardForEveryRopeKind) {
  ModelConfig cfg = preset_config("test");
  const int64_t T = 150, V = cfg.vocab_size;
  const auto tokens = testing::random_ints(T, 5, 0, static_cast<int32_t>(V - 1));
  const auto targets = test::shifted_targets(tokens, 1, T);
  const char* specs[] = {"default", "abf", "linear:factor=4", "ntk:factor=4",
                         "dynamic:factor=4,original=64", "yarn:factor=4,original=64",
                         "xpos", "llama3:factor=4,original=64", "default:partial=0.5"};
  for (const char* spec : specs) {
    cfg.rope = rope::parse_rope_spec(spec);
    LlamaModel m(cfg);
    test::randomize(m.params, 7);
    const auto ref = losses_training(m, tokens, targets);
    for (const int64_t chunk : {int64_t{32}, int64_t{64}, int64_t{150}, int64_t{512}}) {
      const double err = worst_error(losses_long(m, tokens, targets, chunk), ref);
      EXPECT_LT(err, kLossTol) << spec << " chunk " << chunk;
    }
  }
}

TEST(ForwardLong, GroupedQueryTiedAndReuse) {
  for (const int64_t kv : {int64_t{1}, int64_t{2}, int64_t{4}}) {
    LlamaModel m(test::tiny_check_config(kv, /*tied=*/kv == 2));
    test::randomize(m.params, 11 + kv);
    LongForwardWorkspace ws;
    for (const int64_t T : {int64_t{1}, int64_t{37}, int64_t{64}}) {  // one workspace, resized
      const auto tokens = testing::random_ints(T, 3 + T, 0, 31);
      const auto targets = test::shifted_targets(tokens, 1, T);
      const float* h = forward_hidden_long(m, tokens.data(), T, ws, 16);
      std::vector<float> got(static_cast<size_t>(T));
      kernels::lm_head_cross_entropy_forward(got.data(), h, m.params.lm_head(), targets.data(), T,
                                             m.config.dim, m.config.vocab_size);
      EXPECT_LT(worst_error(got, losses_training(m, tokens, targets)), kLossTol)
          << "kv heads " << kv << " T " << T;
    }
  }
}

TEST(ForwardLong, EstimateIsWhatIsAllocatedAndIndependentOfLayers) {
  ModelConfig cfg = preset_config("test");
  LlamaModel m(cfg);
  init_weights(m, 1);
  const int64_t T = 300;
  const auto tokens = testing::random_ints(T, 9, 0, 63);
  LongForwardWorkspace ws;
  forward_hidden_long(m, tokens.data(), T, ws, 128);
  EXPECT_EQ(ws.bytes(), LongForwardWorkspace::bytes_needed(cfg, T, 128));
  ModelConfig deeper = cfg;
  deeper.n_layers = 24;
  EXPECT_EQ(LongForwardWorkspace::bytes_needed(deeper, T, 128),
            LongForwardWorkspace::bytes_needed(cfg, T, 128));
  // Linear in T: (T, C) residual + (T, 2 Hkv D) keys/values + cos/sin, nothing quadratic.
  const size_t a = LongForwardWorkspace::bytes_needed(cfg, 4096, 512);
  const size_t b = LongForwardWorkspace::bytes_needed(cfg, 8192, 512);
  const size_t per_token = static_cast<size_t>(cfg.dim + 2 * cfg.n_kv_heads * cfg.resolved_head_dim() +
                                               cfg.resolved_head_dim()) * sizeof(float);
  EXPECT_EQ(b - a, 4096 * per_token);
}

TEST(ForwardLong, BadTokensAreErrors) {
  LlamaModel m(preset_config("test"));
  init_weights(m, 1);
  LongForwardWorkspace ws;
  const std::vector<int32_t> bad = {1, 2, 64};
  EXPECT_THROW(forward_hidden_long(m, bad.data(), 3, ws), Error);
  EXPECT_THROW(forward_hidden_long(m, bad.data(), 0, ws), Error);
}

}  // namespace
}  // namespace longctx::model
