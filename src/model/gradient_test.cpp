// Whole-model gradient checks: the float model against a double-precision
// reference model built from the kernels' scalar references, and that reference
// against central finite differences in double, for every parameter tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/testing.h"
#include "model/llama.h"
#include "model/model_test_util.h"
#include "model/reference_model.h"

namespace longctx::model {
namespace {

struct GradCase {
  const char* name;
  int64_t n_kv_heads;
  bool tied;
  bool recompute;
  bool pose_positions = false;  // PoSE-style position ids with skips up to kPositionLimit
};

// Position ids as PoSE gives them for T = 7 inside a 40-position target: two chunks per
// sequence, the second shifted by a skip (and one sequence starting after a skip).
constexpr int64_t kPositionLimit = 40;
const std::vector<int32_t> kPosePositions = {0, 1, 2, 15, 16, 17, 18,    // sequence 0
                                             5, 6, 30, 31, 32, 33, 39};  // sequence 1

class WholeModelGradient : public ::testing::TestWithParam<GradCase> {};

TEST_P(WholeModelGradient, FloatMatchesDoubleReferenceAndFiniteDifferences) {
  const GradCase gc = GetParam();
  const int64_t B = 2, T = 7;
  LlamaModel model(test::tiny_check_config(gc.n_kv_heads, gc.tied));
  model.config.rope = rope::parse_rope_spec("abf:base=500");  // angles that vary over 7 tokens
  test::randomize(model.params, 17);
  const auto tokens = testing::random_ints(B * T, 5, 0, static_cast<int32_t>(model.config.vocab_size - 1));
  const auto targets = test::shifted_targets(tokens, B, T, /*ignore_every=*/5);

  ParameterSet grads(model.config);
  TrainWorkspace ws;
  StepOptions opt;
  opt.recompute = gc.recompute;
  ReferenceRequest positions_request;
  if (gc.pose_positions) {
    opt.position_ids = kPosePositions.data();
    opt.position_limit = kPositionLimit;
    positions_request.position_ids = kPosePositions.data();
    positions_request.position_limit = kPositionLimit;
  }
  const kernels::LossSum ls = forward_backward(model, grads, tokens.data(), targets.data(), B, T, opt, ws);

  const std::vector<double> p64 = to_double(model.params);
  ReferenceRequest grads_request = positions_request;
  grads_request.grads = true;
  const ReferenceResult ref =
      reference_forward(model.config, p64, tokens.data(), targets.data(), B, T, grads_request);
  ASSERT_EQ(ls.n_valid, ref.n_valid);
  ASSERT_GT(ref.n_valid, 0);
  // Loss: float vs double, relative 1e-5.
  EXPECT_NEAR(ls.loss_sum / ls.n_valid, ref.loss_sum / ref.n_valid, 1e-5 * ref.loss_sum / ref.n_valid);

  // Reference loss as a function of one parameter, in double.
  auto mean_loss = [&](const std::vector<double>& p) {
    const ReferenceResult r =
        reference_forward(model.config, p, tokens.data(), targets.data(), B, T, positions_request);
    return r.loss_sum / static_cast<double>(r.n_valid);
  };
  const double kFloatVsDouble = 2e-5;  // relative L2 error per tensor, float model vs double reference
  const double kFdVsAnalytic = 1e-6;   // relative L2 error on sampled coordinates, double vs FD (h=1e-5)
  const int kSamples = 4;              // FD coordinates per tensor
  int checked = 0;
  double worst_float = 0.0, worst_fd = 0.0;
  model.params.for_each([&](const ParamEntry& e, float*) {
    const int64_t n = e.shape.numel();
    const float* g32 = grads.data() + e.offset;
    const double* g64 = ref.grads.data() + e.offset;
    const double err = testing::max_rel_error(g32, g64, n);
    EXPECT_LT(err, kFloatVsDouble) << e.name;
    worst_float = std::max(worst_float, err);
    EXPECT_GT(testing::dot(g64, g64, n), 0.0) << e.name << ": zero reference gradient checks nothing";

    std::vector<double> fd, an;
    std::vector<double> p = p64;
    for (int s = 0; s < kSamples; ++s) {
      const size_t i = e.offset + static_cast<size_t>((s * 7919 + 13) % n);
      const double h = 1e-5, x0 = p[i];
      p[i] = x0 + h;
      const double lp = mean_loss(p);
      p[i] = x0 - h;
      const double lm = mean_loss(p);
      p[i] = x0;
      fd.push_back((lp - lm) / (2 * h));
      an.push_back(ref.grads[i]);
    }
    const double fd_err = testing::max_rel_error(an, fd);
    EXPECT_LT(fd_err, kFdVsAnalytic) << e.name;
    worst_fd = std::max(worst_fd, fd_err);
    ++checked;
  });
  EXPECT_EQ(checked, static_cast<int>(model.params.entries().size()));
  std::printf("  %d tensors: worst float-vs-double %.2e (tol %.0e), worst FD-vs-analytic %.2e (tol %.0e)\n",
              checked, worst_float, kFloatVsDouble, worst_fd, kFdVsAnalytic);
}

// Explicit position ids 0..T-1 are the default path, bit for bit; skipped positions change
// the loss (so the ids really reach RoPE); ids outside position_limit are refused.
TEST(PositionIds, ExplicitDefaultIsBitIdenticalAndSkipsMatter) {
  const int64_t B = 2, T = 7;
  LlamaModel model(test::tiny_check_config(2, false));
  model.config.rope = rope::parse_rope_spec("abf:base=500");
  test::randomize(model.params, 23);
  const auto tokens = testing::random_ints(B * T, 9, 0, static_cast<int32_t>(model.config.vocab_size - 1));
  const auto targets = test::shifted_targets(tokens, B, T);
  std::vector<int32_t> plain(static_cast<size_t>(B * T));
  for (int64_t i = 0; i < B * T; ++i) plain[static_cast<size_t>(i)] = static_cast<int32_t>(i % T);
  TrainWorkspace ws;
  ParameterSet g0(model.config), g1(model.config), g2(model.config);
  const kernels::LossSum l0 = forward_backward(model, g0, tokens.data(), targets.data(), B, T, {}, ws);
  StepOptions explicit_ids;
  explicit_ids.position_ids = plain.data();
  const kernels::LossSum l1 =
      forward_backward(model, g1, tokens.data(), targets.data(), B, T, explicit_ids, ws);
  EXPECT_EQ(l0.loss_sum, l1.loss_sum);
  EXPECT_EQ(0, std::memcmp(g0.data(), g1.data(), g0.size() * sizeof(float)));
  StepOptions skipped;
  skipped.position_ids = kPosePositions.data();
  skipped.position_limit = kPositionLimit;
  const kernels::LossSum l2 = forward_backward(model, g2, tokens.data(), targets.data(), B, T, skipped, ws);
  EXPECT_GT(std::abs(l2.loss_sum - l0.loss_sum), 1e-4 * std::abs(l0.loss_sum));
  StepOptions too_far = skipped;
  too_far.position_limit = 39;  // kPosePositions holds 39
  EXPECT_THROW(forward_backward(model, g2, tokens.data(), targets.data(), B, T, too_far, ws), Error);
  too_far.position_limit = 5;  // below T
  EXPECT_THROW(forward_backward(model, g2, tokens.data(), targets.data(), B, T, too_far, ws), Error);
}

// Under MatmulPrecision::kBf16 (train --matmul-precision bf16) every product of the step,
// the GEMM's and attention's tiles, takes bf16 operands: the loss and every gradient tensor
// stay within bf16's rounding of the double reference (observed on AVX-512: loss 2.3e-4
// relative, gradients 0.6e-2 .. 2.6e-2 relative L2 per tensor: each backward product rounds
// its operands again, and layer by layer the errors add up; bounds ~2.5x), differ from the fp32 step's
// (the precision reaches the products), and recompute reproduces them bit for bit.
TEST(Bf16Products, GradientsStayWithinBf16RoundingAndRecomputeIsBitIdentical) {
  const kernels::MatmulPrecision saved = kernels::matmul_precision();
  struct Restore {
    kernels::MatmulPrecision p;
    ~Restore() { kernels::set_matmul_precision(p); }
  } restore{saved};
  const int64_t B = 2, T = 40;
  LlamaModel model(test::tiny_check_config(2, false));
  model.config.rope = rope::parse_rope_spec("abf:base=500");
  test::randomize(model.params, 29);
  const auto tokens = testing::random_ints(B * T, 11, 0, static_cast<int32_t>(model.config.vocab_size - 1));
  const auto targets = test::shifted_targets(tokens, B, T);
  TrainWorkspace ws;
  ParameterSet g32(model.config), g16(model.config), g16r(model.config);
  kernels::set_matmul_precision(kernels::MatmulPrecision::kF32);
  forward_backward(model, g32, tokens.data(), targets.data(), B, T, {}, ws);
  kernels::set_matmul_precision(kernels::MatmulPrecision::kBf16);
  const kernels::LossSum ls = forward_backward(model, g16, tokens.data(), targets.data(), B, T, {}, ws);
  StepOptions recompute;
  recompute.recompute = true;
  const kernels::LossSum lr =
      forward_backward(model, g16r, tokens.data(), targets.data(), B, T, recompute, ws);
  EXPECT_EQ(ls.loss_sum, lr.loss_sum);
  EXPECT_EQ(0, std::memcmp(g16.data(), g16r.data(), g16.size() * sizeof(float)));

  ReferenceRequest request;
  request.grads = true;
  const ReferenceResult ref = reference_forward(model.config, to_double(model.params), tokens.data(),
                                                targets.data(), B, T, request);
  const double loss_err = std::abs(ls.loss_sum - ref.loss_sum) / std::abs(ref.loss_sum);
  EXPECT_LT(loss_err, 1e-3);
  double worst = 0.0;
  model.params.for_each([&](const ParamEntry& e, float*) {
    const int64_t n = e.shape.numel();
    const double err = testing::max_rel_error(g16.data() + e.offset, ref.grads.data() + e.offset, n);
    EXPECT_LT(err, 6e-2) << e.name;
    EXPECT_GT(testing::max_rel_error(g16.data() + e.offset, g32.data() + e.offset, n), 1e-4)
        << e.name << ": the bf16 step's gradient equals fp32's";
    worst = std::max(worst, err);
  });
  std::printf("  bf16 products: loss %.2e relative, worst gradient tensor %.2e relative L2\n",
              loss_err, worst);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, WholeModelGradient,
    ::testing::Values(GradCase{"gqa_untied", 2, false, false}, GradCase{"gqa_untied_recompute", 2, false, true},
                      GradCase{"gqa_tied", 2, true, false}, GradCase{"gqa_tied_recompute", 2, true, true},
                      GradCase{"mqa_untied", 1, false, true}, GradCase{"mha_untied", 4, false, false},
                      GradCase{"gqa_pose_positions", 2, false, false, true},
                      GradCase{"gqa_pose_positions_recompute", 2, true, true, true}),
    [](const ::testing::TestParamInfo<GradCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace longctx::model
