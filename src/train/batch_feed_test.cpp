// Data streams: restoring a state continues with the same micro-batches; a stream's batches do
// not depend on which other streams the process holds (so K ranks see the data one process
// sees); source shares and PoSE positions reach the batches.
#include "train/batch_feed.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/test_shards.h"

namespace longctx::train {
namespace {

struct Fixture {
  std::vector<DataSource> sources;
  FeedOptions options;
  Fixture() {
    const auto dir = testing::temp_dir("feed");
    testing::write_counting_shards(dir / "a", {});
    testing::write_counting_shards(dir / "b", {.vocab = 64, .train_documents = 30, .seed = 2});
    sources = resolve_sources({(dir / "a").string() + ":3", (dir / "b").string() + ":1"});
    options.plan = {.seq = 48, .micro_batch = 2, .batch_tokens = 4 * 2 * 48};  // 4 streams
    options.seed = 5;
  }
};

bool same(const MicroBatch& a, const MicroBatch& b) {
  return a.stream == b.stream && a.tokens == b.tokens && a.targets == b.targets &&
         a.segment_ids == b.segment_ids && a.position_ids == b.position_ids &&
         a.n_valid == b.n_valid;
}

TEST(BatchFeed, RestoreContinuesExactlyAndStreamsAreIndependent) {
  Fixture f;
  std::vector<MicroBatch> all;
  nlohmann::json mid;
  {
    BatchFeed feed(f.sources, f.options, {0, 1, 2, 3}, nlohmann::json::object());
    for (int i = 0; i < 24; ++i) {
      all.push_back(feed.take());
      if (i == 11) mid = feed.consumed_states();
    }
  }
  for (int i = 0; i < 24; ++i) EXPECT_EQ(all[static_cast<size_t>(i)].stream, i % 4);
  {
    BatchFeed resumed(f.sources, f.options, {0, 1, 2, 3}, mid);
    for (int i = 12; i < 24; ++i)
      EXPECT_TRUE(same(resumed.take(), all[static_cast<size_t>(i)])) << i;
  }
  {
    // A rank holding streams 1 and 3 only (K = 2, rank 1) sees those streams' batches.
    BatchFeed rank1(f.sources, f.options, {1, 3}, nlohmann::json::object());
    for (int i = 0; i < 12; ++i) {
      const MicroBatch mb = rank1.take();
      EXPECT_TRUE(same(mb, all[static_cast<size_t>(1 + 2 * (i % 2) + 4 * (i / 2))])) << i;
    }
  }
  nlohmann::json wrong = mid;
  wrong["0"]["stream"] = 3;
  EXPECT_THROW(BatchFeed(f.sources, f.options, {0}, wrong), Error);
}

TEST(BatchFeed, SharesMasksAndPosePositions) {
  Fixture f;
  f.options.pose_target = 400;
  f.options.plan.batch_tokens = 2 * 48;  // 1 stream
  DataStream stream(f.sources, f.options, 0);
  int64_t valid = 0, max_pos = 0;
  for (int i = 0; i < 50; ++i) {
    MicroBatch mb;
    stream.next(mb);
    ASSERT_EQ(mb.tokens.size(), 96u);
    ASSERT_EQ(mb.position_ids.size(), 96u);
    ASSERT_EQ(mb.segment_ids.size(), 96u);
    for (int b = 0; b < 2; ++b)
      for (int t = 1; t < 48; ++t)
        ASSERT_GT(mb.position_ids[b * 48 + t], mb.position_ids[b * 48 + t - 1]);
    for (int32_t p : mb.position_ids) {
      max_pos = std::max<int64_t>(max_pos, p);
      ASSERT_LT(p, 400);
    }
    valid += mb.n_valid;
  }
  EXPECT_GT(max_pos, 300);
  EXPECT_GT(valid, 50 * 2 * 40);
  FeedOptions both = f.options;
  both.document_positions = true;
  EXPECT_THROW(DataStream(f.sources, both, 0), Error);
}

// A curriculum's feed: steps 1-3 at T0 = 24 (two rounds of the 4 streams), then T = 48 (one
// round); every step holds the same tokens. Each stream's token flow continues through the
// switch (the inputs of its sequences, concatenated, are the flow of a run without curriculum:
// nothing repeated or skipped), and a feed restored before, at or after the switch continues
// with the same micro-batches.
TEST(BatchFeed, CurriculumSwitchContinuesEveryStream) {
  const auto dir = testing::temp_dir("feed-curriculum");
  testing::write_counting_shards(dir / "a", {});
  const std::vector<DataSource> sources = resolve_sources({(dir / "a").string()});
  FeedOptions o;
  o.seed = 5;
  o.plan = {.seq = 48, .micro_batch = 2, .batch_tokens = 4 * 2 * 48, .short_seq = 24,
            .short_steps = 3};
  ASSERT_EQ(o.plan.streams(), 4);
  const int kSteps = 6;
  std::vector<std::vector<MicroBatch>> steps(kSteps + 1);
  std::vector<nlohmann::json> after(kSteps + 1);
  {
    BatchFeed feed(sources, o, {0, 1, 2, 3}, nlohmann::json::object());
    for (int s = 1; s <= kSteps; ++s) {
      const int64_t n = o.plan.micro_batches(s);
      int64_t tokens = 0;
      for (int64_t i = 0; i < n; ++i) {
        MicroBatch mb = feed.take();
        EXPECT_EQ(mb.step, s);
        EXPECT_EQ(mb.stream, i % 4);
        EXPECT_EQ(mb.seq_len, s <= 3 ? 24 : 48);
        EXPECT_EQ(static_cast<int64_t>(mb.tokens.size()), 2 * mb.seq_len);
        tokens += static_cast<int64_t>(mb.tokens.size());
        steps[s].push_back(std::move(mb));
      }
      EXPECT_EQ(tokens, 4 * 2 * 48) << "step " << s;
      after[s] = feed.consumed_states();
    }
  }
  for (int64_t stream = 0; stream < 4; ++stream) {
    std::vector<int32_t> flow;  // the stream's inputs, sequence after sequence
    for (int s = 1; s <= kSteps; ++s)
      for (const MicroBatch& mb : steps[s])
        if (mb.stream == stream) flow.insert(flow.end(), mb.tokens.begin(), mb.tokens.end());
    FeedOptions plain = o;
    plain.plan.short_seq = 0;
    DataStream reference(sources, plain, stream);
    std::vector<int32_t> expected;
    while (expected.size() < flow.size()) {
      MicroBatch mb;
      reference.next(mb);
      expected.insert(expected.end(), mb.tokens.begin(), mb.tokens.end());
    }
    EXPECT_EQ(flow, expected) << "stream " << stream;
  }
  for (int from : {2, 3, 4}) {  // before, at and after the switch
    FeedOptions resumed_options = o;
    resumed_options.first_step = from + 1;
    BatchFeed resumed(sources, resumed_options, {0, 1, 2, 3}, after[from]);
    for (int s = from + 1; s <= kSteps; ++s)
      for (const MicroBatch& expected : steps[s]) {
        const MicroBatch mb = resumed.take();
        EXPECT_TRUE(same(mb, expected) && mb.step == s) << "resumed after " << from << ", step "
                                                         << s;
      }
  }
}

// With shares 3:1 about three quarters of the sequences come from source a (each source's
// sampler counts the sequences it produced).
TEST(BatchFeed, SourceSharesFollowTheirWeights) {
  Fixture f;
  f.options.plan = {.seq = 48, .micro_batch = 1};  // 1 stream
  DataStream stream(f.sources, f.options, 0);
  const int kSequences = 400;
  for (int i = 0; i < kSequences; ++i) {
    MicroBatch mb;
    stream.next(mb);
  }
  const nlohmann::json st = stream.state();
  const double from_a = st["samplers"][0]["sequences"].get<double>();
  const double from_b = st["samplers"][1]["sequences"].get<double>();
  EXPECT_EQ(from_a + from_b, kSequences);
  EXPECT_NEAR(from_a / kSequences, 0.75, 0.06);  // 4.5 binomial standard deviations
}

}  // namespace
}  // namespace longctx::train
