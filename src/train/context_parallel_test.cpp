// Context parallelism over real MPI: two ranks, each holding half of every sequence
// (zig-zag), must give the loss and every parameter gradient of one process computing the
// whole sequences, within float rounding: with packed documents (segment ids that cross the
// split), GQA, PoSE-style position ids, B = 2 and activation recomputation; also the
// forward-only loss (validation). The test starts itself under
// `mpirun --allow-run-as-root --oversubscribe -np 2` (ContextParallelMpi.*), whose ranks run
// ContextParallelRanks.* and fail the mpirun on any mismatch.
#include "train/context_parallel.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "model/model_test_util.h"

namespace longctx::train {
namespace {

bool have_mpirun() {
  return std::system("command -v mpirun >/dev/null 2>&1") == 0;
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

struct Case {
  const char* name;
  int64_t B;
  bool documents;  // packed documents (segment ids)
  bool pose;       // position ids with skips, position_limit beyond T
  bool recompute;
};

// tokens, targets, segment ids and position ids of B sequences of T tokens.
struct WholeBatch {
  std::vector<int32_t> tokens, targets, segments, positions;
};

WholeBatch make_batch(const Case& c, int64_t T, int64_t vocab) {
  WholeBatch w;
  w.tokens = longctx::testing::random_ints(c.B * T, 7, 0, static_cast<int32_t>(vocab - 1));
  w.targets = model::test::shifted_targets(w.tokens, c.B, T, 11);
  if (c.documents) {  // documents of 1..90 tokens, crossing the chunk and rank boundaries
    w.segments.resize(w.tokens.size());
    for (int64_t b = 0; b < c.B; ++b) {
      int32_t id = 0;
      int64_t left = 17 + b;
      for (int64_t t = 0; t < T; ++t) {
        if (left-- == 0) ++id, left = 1 + (t * 53 + b) % 90;
        w.segments[static_cast<size_t>(b * T + t)] = id;
      }
    }
  }
  if (c.pose) {  // two chunks, the second skipped ahead by 300 + 40 b
    w.positions.resize(w.tokens.size());
    for (int64_t b = 0; b < c.B; ++b)
      for (int64_t t = 0; t < T; ++t)
        w.positions[static_cast<size_t>(b * T + t)] =
            static_cast<int32_t>(t < T / 3 ? t : t + 300 + 40 * b);
  }
  return w;
}

const int32_t* or_null(const std::vector<int32_t>& v) {
  return v.empty() ? nullptr : v.data();
}

// Relative to the tensor's largest entry: max |cp - one| / max |one|.
double scaled_error(const float* cp, const float* one, int64_t n) {
  double m = 0, d = 0;
  for (int64_t i = 0; i < n; ++i) {
    m = std::max(m, std::fabs(static_cast<double>(one[i])));
    d = std::max(d, std::fabs(static_cast<double>(cp[i]) - one[i]));
  }
  return m > 0 ? d / m : d;
}

TEST(ContextParallelMpi, TwoRanksMatchOneProcess) {
  if (launched_by_mpi()) GTEST_SKIP() << "this is the launcher; the ranks run ContextParallelRanks";
  if (!have_mpirun())
    GTEST_SKIP() << "mpirun not installed (scripts/install-deps.sh installs openmpi-bin)";
  const std::string self = self_path();
  ASSERT_FALSE(self.empty());
  const std::string cmd = "OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -np 2 " +
                          self + " --gtest_color=no --gtest_filter='ContextParallelRanks.*' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  std::printf("%s", out.c_str());
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
  // Both ranks ran the comparison (not skipped).
  size_t passed = 0;
  for (size_t at = out.find("[  PASSED  ] 1 test"); at != std::string::npos;
       at = out.find("[  PASSED  ] 1 test", at + 1))
    ++passed;
  EXPECT_EQ(passed, 2u) << out;
  EXPECT_EQ(out.find("SKIPPED"), std::string::npos) << out;
}

TEST(ContextParallelRanks, LossAndEveryGradientMatchOneProcess) {
  if (!launched_by_mpi())
    GTEST_SKIP() << "runs under mpirun, started by ContextParallelMpi.TwoRanksMatchOneProcess";
  Comm& world = Comm::world();
  ASSERT_EQ(world.size(), 2);
  const int64_t T = 520;  // chunks of 130 rows: across the kernels' 128-row tiles
  model::LlamaModel model(model::test::tiny_check_config(/*n_kv_heads=*/2, /*tied=*/false));
  model.config.max_seq_len = 1024;
  model::test::randomize(model.params, 5);
  ContextParallel cp(world, 2, T);
  ASSERT_TRUE(cp.active());
  EXPECT_EQ(cp.layout().context_rank, world.rank());

  // Tolerances: one process sums each attention row over all keys in one online softmax;
  // the ring merges two partial softmaxes and sums dk/dv contributions in another order, and
  // the gradient all-reduce adds two partial sums. All fp32 rounding: relative errors seen
  // ~1e-7 on the loss and <~1e-6 of each tensor's largest gradient entry.
  const double kLossTolerance = 1e-6;      // relative
  const double kGradientTolerance = 2e-5;  // of the tensor's largest entry
  const Case cases[] = {
      {"documents", 1, true, false, false},
      {"documents_pose_b2", 2, true, true, false},
      {"plain_recompute", 1, false, false, true},
      {"documents_pose_recompute", 1, true, true, true},
  };
  double worst_loss = 0, worst_grad = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const WholeBatch w = make_batch(c, T, model.config.vocab_size);
    model::StepOptions base;
    base.recompute = c.recompute;
    base.segment_ids = or_null(w.segments);
    base.position_ids = or_null(w.positions);
    base.position_limit = c.pose ? T + 400 : 0;
    // One process: the whole sequences.
    model::TrainWorkspace ws_one;
    model::ParameterSet g_one(model.config);
    const kernels::LossSum one = model::forward_backward(model, g_one, w.tokens.data(),
                                                         w.targets.data(), c.B, T, base, ws_one);
    // Two ranks: each its slice, gradients normalised by the global valid count.
    LocalBatch local;
    cp.slice(local, w.tokens.data(), w.targets.data(), or_null(w.segments), or_null(w.positions),
             c.B);
    model::StepOptions opt = base;
    cp.bind(local, opt);
    opt.grad_normalizer = one.n_valid;
    model::TrainWorkspace ws;
    model::ParameterSet g(model.config);
    const kernels::LossSum part = model::forward_backward(
        model, g, local.tokens.data(), local.targets.data(), c.B, T / 2, opt, ws);
    double sums[2] = {part.loss_sum, static_cast<double>(part.n_valid)};
    world.allreduce_sum(sums, 2);
    world.allreduce_sum(g.data(), static_cast<int64_t>(g.size()));
    EXPECT_EQ(static_cast<int64_t>(sums[1]), one.n_valid);
    const double loss_err = std::fabs(sums[0] - one.loss_sum) / std::fabs(one.loss_sum);
    EXPECT_LT(loss_err, kLossTolerance) << sums[0] << " vs " << one.loss_sum;
    worst_loss = std::max(worst_loss, loss_err);
    int tensors = 0;
    model.params.for_each([&](const model::ParamEntry& e, float* p) {
      const int64_t off = p - model.params.data();
      const double err = scaled_error(g.data() + off, g_one.data() + off, e.shape.numel());
      EXPECT_LT(err, kGradientTolerance) << e.name;
      worst_grad = std::max(worst_grad, err);
      ++tensors;
    });
    EXPECT_GT(tensors, 10);
    // Forward only (the validation path): the same loss.
    model::StepOptions eval;
    eval.position_limit = base.position_limit;
    cp.bind(local, eval);
    const kernels::LossSum f =
        model::forward_loss(model, local.tokens.data(), local.targets.data(), c.B, T / 2, eval, ws);
    model::StepOptions eval_one;
    eval_one.segment_ids = base.segment_ids;
    eval_one.position_ids = base.position_ids;
    eval_one.position_limit = base.position_limit;
    const kernels::LossSum f_one =
        model::forward_loss(model, w.tokens.data(), w.targets.data(), c.B, T, eval_one, ws_one);
    double f_sum = f.loss_sum;
    world.allreduce_sum(&f_sum, 1);
    EXPECT_LT(std::fabs(f_sum - f_one.loss_sum) / std::fabs(f_one.loss_sum), kLossTolerance);
  }
  if (world.is_root())
    std::printf(
        "  context parallel 2 vs one process: worst loss error %.2e (tolerance %.0e), "
        "worst gradient error %.2e of the tensor's largest entry (tolerance %.0e)\n",
        worst_loss, kLossTolerance, worst_grad, kGradientTolerance);
  const RingAttention* ring = cp.ring();
  ASSERT_NE(ring, nullptr);
  EXPECT_GT(ring->stats().bytes_sent, 0);
  world.finalize();
}

TEST(ContextParallel, LayoutPutsContextGroupsOnConsecutiveRanks) {
  const ParallelLayout l = parallel_layout(6, 4, 2);
  EXPECT_EQ(l.context, 2);
  EXPECT_EQ(l.data, 3);
  EXPECT_EQ(l.context_rank, 0);
  EXPECT_EQ(l.data_rank, 2);
  EXPECT_EQ(parallel_layout(6, 5, 3).data_rank, 1);
  EXPECT_THROW(parallel_layout(6, 0, 4), Error);
  EXPECT_THROW(parallel_layout(6, 0, 0), Error);
}

TEST(ContextParallel, OneRankPassesBatchesThrough) {
  if (launched_by_mpi()) GTEST_SKIP() << "single-process test";
  ContextParallel cp(Comm::world(), 1, 8);
  EXPECT_FALSE(cp.active());
  const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8}, targets = {2, 3, 4, 5, 6, 7, 8, -1};
  const std::vector<int32_t> seg = {0, 0, 0, 1, 1, 1, 1, 1};
  LocalBatch local;
  cp.slice(local, tokens.data(), targets.data(), seg.data(), nullptr, 1);
  EXPECT_EQ(local.tokens, tokens);
  EXPECT_EQ(local.n_valid, 7);
  EXPECT_TRUE(local.position_ids.empty());
  model::StepOptions opt;
  cp.bind(local, opt);
  EXPECT_EQ(opt.attention, nullptr);
  EXPECT_EQ(opt.position_ids, nullptr);
  EXPECT_EQ(opt.position_limit, 0);
  EXPECT_EQ(opt.segment_ids, local.segment_ids.data());
}

}  // namespace
}  // namespace longctx::train
