// Sequence sampling: packing, padding, segment ids, resume, rank disjointness, upsampling.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "data/indexed_dataset.h"
#include "data/sampler.h"
#include "data/test_support.h"

namespace longctx::data {
namespace {
namespace fs = std::filesystem;

constexpr int32_t kBos = 1, kEos = 2, kPad = 0;
// Token i of document d is d * 100000 + 10 + i, so every token names its document.
int32_t token(int64_t d, int64_t i) { return static_cast<int32_t>(d * 100000 + 10 + i); }

std::string make_shard(const std::string& name, const std::vector<int64_t>& lengths) {
  const auto dir = testing::temp_dir(name);
  const std::string prefix = (dir / "s").string();
  IndexedDatasetWriter w(prefix, TokenDType::kInt32);
  for (size_t d = 0; d < lengths.size(); ++d) {
    std::vector<int32_t> doc(static_cast<size_t>(lengths[d]));
    for (int64_t i = 0; i < lengths[d]; ++i) doc[i] = token(static_cast<int64_t>(d), i);
    w.add_document(doc);
  }
  w.finish();
  return prefix;
}

SamplerOptions options(int64_t T, PackMode mode) {
  SamplerOptions o;
  o.seq_len = T;
  o.mode = mode;
  o.seed = 42;
  o.bos_id = kBos;
  o.eos_id = kEos;
  o.pad_id = kPad;
  return o;
}

// The framed stream the sampler should produce for one epoch.
std::vector<int32_t> framed_epoch(const SequenceSampler& s, int64_t epoch) {
  std::vector<int32_t> stream;
  for (int64_t d : s.epoch_order(epoch)) {
    stream.push_back(kBos);
    for (int64_t i = 0; i < s.document_length(d); ++i) stream.push_back(token(d, i));
    stream.push_back(kEos);
  }
  return stream;
}

TEST(Sampler, PackedFollowsTheFramedStreamWithSegmentsAndMaskedBoundaries) {
  const std::string shard = make_shard("packed", {5, 300, 17, 1, 64, 900, 33});
  for (int64_t T : {256, 1000, 4096}) {
    SequenceSampler s({shard}, options(T, PackMode::kPacked));
    std::vector<int32_t> stream = framed_epoch(s, 0), next = framed_epoch(s, 1);
    stream.insert(stream.end(), next.begin(), next.end());
    const int64_t n = static_cast<int64_t>(stream.size()) / T - 1;
    Sequence seq;
    for (int64_t k = 0; k < n; ++k) {
      s.next(seq);
      for (int64_t i = 0; i < T; ++i) {
        const int64_t p = k * T + i;
        ASSERT_EQ(seq.inputs[i], stream[p]) << "T=" << T << " seq " << k << " pos " << i;
        const bool boundary = stream[p] == kEos;
        ASSERT_EQ(seq.targets[i], boundary ? -1 : stream[p + 1]) << k << " " << i;
        if (i > 0) {
          // A new segment starts exactly at each BOS.
          ASSERT_EQ(seq.segment_ids[i], seq.segment_ids[i - 1] + (stream[p] == kBos)) << i;
        }
      }
      ASSERT_EQ(seq.segment_ids[0], 0);
    }
  }
}

TEST(Sampler, PaddedHoldsOneDocumentPerSequence) {
  const std::string shard = make_shard("padded", {5, 300, 17, 1});
  SequenceSampler s({shard}, options(256, PackMode::kPadded));
  const auto order = s.epoch_order(0);
  Sequence seq;
  for (int64_t d : order) {
    const int64_t framed = s.document_length(d) + 2;
    for (int64_t start = 0; start + 1 < framed; start += 256) {
      s.next(seq);
      for (int64_t i = 0; i < 256; ++i) {
        const int64_t p = start + i;
        const bool real = p < framed;
        const int32_t expect = p == 0 ? kBos : p == framed - 1 ? kEos : token(d, p - 1);
        ASSERT_EQ(seq.inputs[i], real ? expect : kPad);
        ASSERT_EQ(seq.segment_ids[i], real ? 0 : -1);
        if (p + 1 >= framed) {
          ASSERT_EQ(seq.targets[i], -1);
        }
      }
    }
  }
  EXPECT_EQ(s.cursor().epoch, 1);  // exactly one epoch consumed
}

TEST(Sampler, ResumedRunSeesExactlyTheSameData) {
  const std::string shard = make_shard("resume", {40, 700, 3, 129, 2000, 55, 10, 300});
  for (PackMode mode : {PackMode::kPacked, PackMode::kPadded}) {
    auto opt = options(128, mode);
    opt.upsample = parse_bucket_weights("0:1,500:2.5");
    SequenceSampler full({shard}, opt);
    Sequence seq;
    std::vector<std::vector<int32_t>> expected;
    std::string saved;
    for (int k = 0; k < 150; ++k) {  // crosses several epochs
      if (k == 67) saved = full.cursor_json().dump();
      full.next(seq);
      if (k >= 67) expected.push_back(seq.inputs);
      if (k >= 67) expected.push_back(seq.targets);
    }
    SequenceSampler resumed({shard}, opt);
    resumed.next(seq);  // a fresh sampler that already moved on: restore must override it
    resumed.restore(nlohmann::json::parse(saved));
    EXPECT_EQ(resumed.cursor().sequences, 67);
    for (size_t k = 0; k < expected.size(); k += 2) {
      resumed.next(seq);
      ASSERT_EQ(seq.inputs, expected[k]) << pack_mode_name(mode) << " seq " << 67 + k / 2;
      ASSERT_EQ(seq.targets, expected[k + 1]);
    }
    // A cursor from another configuration is refused.
    auto other = opt;
    other.seq_len = 256;
    SequenceSampler different({shard}, other);
    EXPECT_THROW(different.restore(nlohmann::json::parse(saved)), Error);
    EXPECT_THROW(resumed.restore(nlohmann::json::parse("{\"version\": 1}")), Error);
  }
}

TEST(Sampler, RanksSeeDisjointDocumentsCoveringAll) {
  std::vector<int64_t> lengths(50);
  for (int i = 0; i < 50; ++i) lengths[i] = 10 + i;
  const std::string shard = make_shard("ranks", lengths);
  std::set<int64_t> seen;
  for (int rank = 0; rank < 3; ++rank) {
    auto opt = options(64, PackMode::kPacked);
    opt.rank = rank;
    opt.world_size = 3;
    SequenceSampler s({shard}, opt);
    std::set<int64_t> mine;
    for (int64_t e = 0; e < 3; ++e)
      for (int64_t d : s.epoch_order(e)) mine.insert(d);
    // The documents the sequences actually contain agree with the order.
    Sequence seq;
    for (int k = 0; k < 40; ++k) {
      s.next(seq);
      for (int32_t t : seq.inputs) {
        if (t >= 10) {
          ASSERT_TRUE(mine.count(t / 100000)) << "rank " << rank;
        }
      }
    }
    for (int64_t d : mine) EXPECT_TRUE(seen.insert(d).second) << "document " << d << " twice";
  }
  EXPECT_EQ(seen.size(), 50u);
  auto bad = options(64, PackMode::kPacked);
  bad.rank = 3;
  bad.world_size = 3;
  EXPECT_THROW(SequenceSampler({shard}, bad), Error);
}

TEST(Sampler, UpsamplingWeightsAreHonoured) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 40; ++i) lengths.push_back(i % 2 ? 5000 : 100);
  const std::string shard = make_shard("upsample", lengths);
  auto opt = options(512, PackMode::kPacked);
  opt.upsample = parse_bucket_weights("4096:2.5,0:1");  // parsing sorts the buckets
  SequenceSampler s({shard}, opt);
  EXPECT_EQ(s.document_weight(0), 1.0);
  EXPECT_EQ(s.document_weight(1), 2.5);
  std::map<int64_t, int64_t> visits;
  const int epochs = 200;
  for (int e = 0; e < epochs; ++e)
    for (int64_t d : s.epoch_order(e)) ++visits[d];
  double long_mean = 0;
  for (int d = 0; d < 40; ++d) {
    if (d % 2 == 0) EXPECT_EQ(visits[d], epochs);  // weight 1: exactly once per epoch
    else long_mean += static_cast<double>(visits[d]) / (20.0 * epochs);
  }
  // 20 documents x 200 epochs of a 2-or-3 draw (sd 0.5): the mean's sd is 0.0079; 5 sd below.
  EXPECT_NEAR(long_mean, 2.5, 0.04);
  // Weight 0 removes a bucket entirely.
  opt.upsample = parse_bucket_weights("0:1,4096:0");
  SequenceSampler only_short({shard}, opt);
  for (int64_t d : only_short.epoch_order(0)) EXPECT_EQ(d % 2, 0);
  EXPECT_THROW(parse_bucket_weights("4096"), Error);
  EXPECT_THROW(parse_bucket_weights("x:1"), Error);
  EXPECT_THROW(parse_bucket_weights("0:-1"), Error);
}

TEST(Sampler, VeryLongSequencesAndBatches) {
  const std::string shard = make_shard("long", {20000, 15000, 9});
  auto opt = options(32768, PackMode::kPacked);
  SequenceSampler s({shard}, opt);
  std::vector<int32_t> in(2 * 32768), tg(2 * 32768), seg(2 * 32768);
  s.next_batch(2, in.data(), tg.data(), seg.data());
  EXPECT_EQ(in[0], kBos);
  EXPECT_EQ(s.cursor().sequences, 2);
  int64_t masked = 0;
  for (int32_t t : tg) masked += t == -1;
  EXPECT_GE(masked, 2);  // at least the document ends inside two 32k windows
}

}  // namespace
}  // namespace longctx::data
