// The short-to-long curriculum's schedule: which step trains at which window, the same tokens
// in every step, the data-stream layout, the FLOPs count, and the flag checks (each error
// names the flags). The trainer side (schedule, resume across the switch) is tested end to
// end in cli/train_cli_test.cpp (TrainCli.Curriculum*).
#include "train/curriculum.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "model/config.h"
#include "train/flops.h"

namespace longctx::train {
namespace {

TrainConfig curriculum_config() {
  TrainConfig c;
  c.data = {"data/a"};
  c.out = "runs/x";
  c.seq = 64;
  c.steps = 10;
  c.batch_tokens = 256;
  c.short_seq = 16;
  c.short_share = 0.4;
  return c;
}

TEST(Curriculum, PhaseBoundariesAndTokensPerStep) {
  TrainConfig c = curriculum_config();
  resolve_config(c, 1);
  const Curriculum k = make_curriculum(c);
  ASSERT_TRUE(k.active());
  EXPECT_EQ(k.short_steps, 4);  // round(0.4 x 10)
  for (int64_t step = 1; step <= 10; ++step) {
    EXPECT_EQ(k.window(step), step <= 4 ? 16 : 64) << step;
    EXPECT_EQ(k.micro_batches(step) * k.window(step) * k.micro_batch, 256) << step;
    EXPECT_EQ(k.rounds(step) * k.streams(), k.micro_batches(step)) << step;
  }
  // T0 divides T: the streams are the long phase's micro-batches (the partition of a run
  // without curriculum), each serving T / T0 micro-batches of a short step.
  EXPECT_EQ(k.streams(), 4);
  EXPECT_EQ(k.rounds(4), 4);
  EXPECT_EQ(k.rounds(5), 1);

  // T0 not dividing T: 192 tokens per step = 3 x 64 = 4 x 48; streams gcd(3, 4) = 1.
  c = curriculum_config();
  c.short_seq = 48;
  c.batch_tokens = 192;
  c.micro_batch = 1;
  c.short_share = 0.25;  // 2.5 rounds to 3
  resolve_config(c, 1);
  const Curriculum odd = make_curriculum(c);
  EXPECT_EQ(odd.short_steps, 3);
  EXPECT_EQ(odd.streams(), 1);
  EXPECT_EQ(odd.rounds(3), 4);
  EXPECT_EQ(odd.rounds(4), 3);

  // Without --short-seq every step is at T and the streams are the micro-batches per step.
  c = curriculum_config();
  c.short_seq = 0;
  c.short_share = 0;
  resolve_config(c, 1);
  const Curriculum plain = make_curriculum(c);
  EXPECT_FALSE(plain.active());
  EXPECT_EQ(plain.window(1), 64);
  EXPECT_EQ(plain.streams(), 4);
  EXPECT_EQ(plain.rounds(1), 1);
}

// train_flops: per step batch_tokens x model_flops_per_token(window); the attention term
// grows with the window, so a long step costs more than a short one of the same tokens.
TEST(Curriculum, FlopsGrowFasterAfterTheSwitch) {
  TrainConfig c = curriculum_config();
  resolve_config(c, 1);
  const Curriculum k = make_curriculum(c);
  const model::ModelConfig m = model::preset_config("test");
  auto per_step = [&](int64_t step) {
    return curriculum_flops(k, m, step) - curriculum_flops(k, m, step - 1);
  };
  EXPECT_EQ(curriculum_flops(k, m, 0), 0.0);
  EXPECT_DOUBLE_EQ(per_step(1), 256 * model_flops_per_token(m, 16));
  EXPECT_DOUBLE_EQ(per_step(4), per_step(1));
  EXPECT_DOUBLE_EQ(per_step(5), 256 * model_flops_per_token(m, 64));
  EXPECT_GT(per_step(5), per_step(4));
  // The difference is exactly the attention term: 6 x layers x dim x (T - T0) per token.
  EXPECT_NEAR(per_step(5) - per_step(4),
              256.0 * 6 * double(m.n_layers) * double(m.dim) * (64 - 16), 1e-6 * per_step(5));
  // A run without curriculum spends per_step(5) on every step.
  TrainConfig plain = curriculum_config();
  plain.short_seq = 0, plain.short_share = 0;
  resolve_config(plain, 1);
  EXPECT_DOUBLE_EQ(curriculum_flops(make_curriculum(plain), m, 10), 10 * per_step(5));
  EXPECT_LT(curriculum_flops(k, m, 10), curriculum_flops(make_curriculum(plain), m, 10));
}

// Each bad combination is refused by resolve_config with the flags named.
TEST(Curriculum, BadFlagCombinationsNameTheFlags) {
  struct Case {
    const char* what;
    void (*edit)(TrainConfig&);
    std::vector<std::string> named;
  };
  const std::vector<Case> cases = {
      {"T0 = T", [](TrainConfig& c) { c.short_seq = 64; }, {"--short-seq", "--seq"}},
      {"T0 > T", [](TrainConfig& c) { c.short_seq = 128; }, {"--short-seq"}},
      {"share 1", [](TrainConfig& c) { c.short_share = 1; }, {"--short-share"}},
      {"share < 0", [](TrainConfig& c) { c.short_share = -0.1; }, {"--short-share"}},
      {"all steps short", [](TrainConfig& c) { c.short_share = 0.96; },
       {"--short-share", "--steps"}},
      {"batch not a multiple of T0",
       [](TrainConfig& c) {
         c.short_seq = 48;
         c.batch_tokens = 128;
       },
       {"--batch-tokens", "--short-seq", "--micro-batch"}},
      {"batch not a multiple of T0 x B",
       [](TrainConfig& c) {
         c.micro_batch = 8;
         c.batch_tokens = 512;
         c.short_seq = 48;
       },
       {"--batch-tokens", "--short-seq x --micro-batch = 384"}},
      {"share without T0", [](TrainConfig& c) { c.short_seq = 0; }, {"--short-share"}},
      {"rope without T0",
       [](TrainConfig& c) {
         c.short_seq = 0, c.short_share = 0;
         c.short_rope = "abf:base=10000";
       },
       {"--short-rope", "--short-seq"}},
      {"T0 not a multiple of 2 x context ranks",
       [](TrainConfig& c) {
         c.seq = 96;
         c.short_seq = 32;
         c.batch_tokens = 192;
         c.context_parallel = 3;
       },
       {"--short-seq", "--context-parallel"}},
      {"PoSE target not above the windows",
       [](TrainConfig& c) { c.pose_target = 32; },
       {"--pose-target"}},
  };
  for (const Case& t : cases) {
    TrainConfig c = curriculum_config();
    t.edit(c);
    try {
      resolve_config(c, 1);
      ADD_FAILURE() << t.what << ": accepted";
    } catch (const Error& e) {
      for (const std::string& flag : t.named)
        EXPECT_NE(std::string(e.what()).find(flag), std::string::npos)
            << t.what << ": " << e.what();
    }
  }
  TrainConfig ok = curriculum_config();
  ok.short_share = 0;  // valid: no short step (the run is long from the start)
  EXPECT_NO_THROW(resolve_config(ok, 1));
  EXPECT_EQ(make_curriculum(ok).short_steps, 0);
}

}  // namespace
}  // namespace longctx::train
