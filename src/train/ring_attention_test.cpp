// Ring attention without MPI: K ranks simulated by K threads exchanging messages through
// an in-process transport, each running RingAttention on its zig-zag slice. Forward and
// backward must equal causal attention over the whole sequences (the double reference),
// with packed documents and GQA, for K = 2, 3, 4; the traffic must be what
// docs/context_parallel.md states. The real MPI transport is tested under mpirun in
// context_parallel_test.cpp.
#include "train/ring_attention.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "core/error.h"
#include "kernels/attention_reference.h"
#include "kernels/testing.h"

namespace longctx::train {
namespace {

using longctx::testing::convert;
using longctx::testing::max_abs_diff;
using longctx::testing::max_rel_error;
using longctx::testing::random_normal;

// Mailboxes keyed by (destination, source, tag); a send copies its data at once.
class Mailboxes {
 public:
  void post(int dest, int source, int tag, const float* data, int64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    boxes_[{dest, source, tag}].emplace_back(data, data + n);
    changed_.notify_all();
  }
  void take(int dest, int source, int tag, float* data, int64_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto& box = boxes_[{dest, source, tag}];
    changed_.wait(lock, [&] { return !box.empty(); });
    LONGCTX_CHECK(static_cast<int64_t>(box.front().size()) == n,
                  "message of %zu floats, receive expects %lld", box.front().size(),
                  static_cast<long long>(n));
    std::copy(box.front().begin(), box.front().end(), data);
    box.pop_front();
  }
  bool empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [key, box] : boxes_)
      if (!box.empty()) return false;
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::tuple<int, int, int>, std::deque<std::vector<float>>> boxes_;
};

class LocalTransport final : public RingTransport {
 public:
  LocalTransport(Mailboxes& boxes, int rank, int size) : boxes_(boxes), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void start(std::vector<Message> sends, std::vector<Message> receives) override {
    for (const Message& m : sends) boxes_.post(m.peer, rank_, m.tag, m.data, m.n);
    receives_ = std::move(receives);
  }
  void wait() override {
    for (const Message& m : receives_) boxes_.take(rank_, m.peer, m.tag, m.data, m.n);
    receives_.clear();
  }

 private:
  Mailboxes& boxes_;
  int rank_, size_;
  std::vector<Message> receives_;
};

// Rows of whole (B, T, width) -> local (B, 2C, width) and back.
std::vector<float> slice_rows(const ContextSplit& s, const std::vector<float>& whole, int64_t B,
                              int64_t width) {
  std::vector<float> local(static_cast<size_t>(B * s.local_len() * width));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < s.local_len(); ++i)
      std::copy_n(whole.begin() + (b * s.T + s.global_index(i)) * width, width,
                  local.begin() + (b * s.local_len() + i) * width);
  return local;
}

struct RingCase {
  int K;
  int64_t B, C;
  int H, Hkv, D;
  bool segments;
};

// Packed documents of lengths 1..60 (so documents cross chunk and rank boundaries), numbered
// in order within each sequence.
std::vector<int32_t> packed_segments(int64_t B, int64_t T) {
  std::vector<int32_t> seg(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b) {
    int32_t id = 0;
    int64_t left = 5 + b;
    for (int64_t t = 0; t < T; ++t) {
      if (left-- == 0) ++id, left = 1 + (t * 31 + b * 7) % 60;
      seg[static_cast<size_t>(b * T + t)] = id;
    }
  }
  return seg;
}

void check_ring(const RingCase& c) {
  const int K = c.K;
  const int64_t T = 2 * K * c.C, B = c.B, QD = c.H * c.D, KD = c.Hkv * c.D;
  SCOPED_TRACE(strformat("K=%d B=%lld C=%lld H=%d Hkv=%d D=%d segments=%d", K,
                         static_cast<long long>(B), static_cast<long long>(c.C), c.H, c.Hkv, c.D,
                         c.segments ? 1 : 0));
  const auto q = random_normal<float>(B * T * QD, 41), k = random_normal<float>(B * T * KD, 42);
  const auto v = random_normal<float>(B * T * KD, 43), dout = random_normal<float>(B * T * QD, 44);
  const std::vector<int32_t> seg = c.segments ? packed_segments(B, T) : std::vector<int32_t>{};
  const int32_t* whole_seg = c.segments ? seg.data() : nullptr;

  kernels::AttentionShape whole;
  whole.B = B;
  whole.T_q = whole.T_kv = T;
  whole.n_heads = c.H;
  whole.n_kv_heads = c.Hkv;
  whole.head_dim = c.D;
  const auto qd = convert<double>(q), kd = convert<double>(k), vd = convert<double>(v);
  const auto doutd = convert<double>(dout);
  std::vector<double> r_out(qd.size()), r_lse(B * c.H * T), r_dq(qd.size()), r_dk(kd.size()),
      r_dv(kd.size());
  kernels::ref::attention_forward(r_out.data(), r_lse.data(), qd.data(), kd.data(), vd.data(),
                                  whole, whole_seg);
  kernels::ref::attention_backward(r_dq.data(), r_dk.data(), r_dv.data(), doutd.data(), qd.data(),
                                   kd.data(), vd.data(), whole, whole_seg);

  struct RankResult {
    std::vector<float> out, lse, dq, dk, dv;
    RingStats stats;
  };
  std::vector<RankResult> results(static_cast<size_t>(K));
  Mailboxes boxes;
  std::vector<std::thread> ranks;
  std::vector<std::string> errors(static_cast<size_t>(K));
  for (int r = 0; r < K; ++r)
    ranks.emplace_back([&, r] {
      try {
        LocalTransport transport(boxes, r, K);
        RingAttention ring(transport, T);
        const ContextSplit& s = ring.split();
        const int64_t L = s.local_len();
        ring.set_batch(whole_seg, B);
        std::vector<int32_t> local_seg;
        if (whole_seg) {
          local_seg.resize(static_cast<size_t>(B * L));
          s.slice(local_seg.data(), whole_seg, B);
        }
        const auto lq = slice_rows(s, q, B, QD), lk = slice_rows(s, k, B, KD);
        const auto lv = slice_rows(s, v, B, KD), ldout = slice_rows(s, dout, B, QD);
        kernels::AttentionShape local = whole;
        local.T_q = local.T_kv = L;
        RankResult& res = results[static_cast<size_t>(r)];
        res.out.resize(lq.size()), res.lse.resize(B * c.H * L);
        res.dq.resize(lq.size()), res.dk.resize(lk.size()), res.dv.resize(lk.size());
        const int32_t* ls = whole_seg ? local_seg.data() : nullptr;
        ring.forward(res.out.data(), res.lse.data(), lq.data(), lk.data(), lv.data(), local, ls);
        ring.backward(res.dq.data(), res.dk.data(), res.dv.data(), ldout.data(), res.out.data(),
                      res.lse.data(), lq.data(), lk.data(), lv.data(), local, ls);
        res.stats = ring.stats();
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (std::thread& t : ranks) t.join();
  for (const std::string& e : errors) ASSERT_TRUE(e.empty()) << e;
  EXPECT_TRUE(boxes.empty()) << "messages left over";

  // Every rank's rows against the reference rows they stand for.
  for (int r = 0; r < K; ++r) {
    const ContextSplit s(T, K, r);
    const int64_t L = s.local_len();
    const RankResult& res = results[static_cast<size_t>(r)];
    const auto ref_out = slice_rows(s, convert<float>(r_out), B, QD);
    const auto ref_dq = slice_rows(s, convert<float>(r_dq), B, QD);
    const auto ref_dk = slice_rows(s, convert<float>(r_dk), B, KD);
    const auto ref_dv = slice_rows(s, convert<float>(r_dv), B, KD);
    std::vector<float> ref_lse(res.lse.size());
    for (int64_t b = 0; b < B; ++b)
      for (int h = 0; h < c.H; ++h)
        for (int64_t i = 0; i < L; ++i)
          ref_lse[(b * c.H + h) * L + i] =
              static_cast<float>(r_lse[(b * c.H + h) * T + s.global_index(i)]);
    // The kernels' own bounds against the double reference (attention_test.cpp): merging
    // partial results in float adds rounding of the same order.
    EXPECT_LT(max_rel_error(res.out, ref_out), 4e-6) << "rank " << r;
    EXPECT_LT(max_abs_diff(res.lse, ref_lse), 5e-6) << "rank " << r;
    EXPECT_LT(max_rel_error(res.dq, ref_dq), 3e-6) << "rank " << r;
    EXPECT_LT(max_rel_error(res.dk, ref_dk), 3e-6) << "rank " << r;
    EXPECT_LT(max_rel_error(res.dv, ref_dv), 3e-6) << "rank " << r;

    // Traffic (docs/context_parallel.md): forward and backward each pass K-1 key/value blocks on
    // (B, 2C, Hkv, D floats each of k and v); the backward returns K-1 dk/dv pairs, C rows
    // for each of the r blocks of lower ranks and 2C for the K-1-r of higher ranks.
    const int64_t block = B * L * KD * 4;
    const int64_t returned = (r * c.C + (K - 1 - r) * L) * B * KD * 4 * 2;
    EXPECT_EQ(res.stats.bytes_sent, 2 * (K - 1) * 2 * block + returned) << "rank " << r;
  }
}

TEST(RingAttention, EqualsCausalAttentionOverTheWholeSequence) {
  const RingCase cases[] = {
      {2, 1, 130, 4, 2, 16, true},  // chunks straddle the 128-key tile
      {2, 2, 67, 8, 2, 8, false},   // B = 2, no documents
      {3, 2, 40, 4, 1, 16, true},   // K = 3: blocks are passed on, not only swapped
      {4, 1, 50, 2, 2, 32, true},   // K = 4
  };
  for (const RingCase& c : cases) check_ring(c);
}

TEST(ContextSplit, ZigZagChunksCoverTheSequenceOnce) {
  const int K = 3;
  const int64_t T = 24;  // C = 4
  std::vector<int> owner(T, -1);
  for (int r = 0; r < K; ++r) {
    const ContextSplit s(T, K, r);
    EXPECT_EQ(s.chunk(), 4);
    EXPECT_EQ(s.local_len(), 8);
    for (int64_t i = 0; i < s.local_len(); ++i) {
      const int64_t g = s.global_index(i);
      ASSERT_EQ(owner[g], -1) << "position " << g << " held twice";
      owner[g] = r;
      if (i > 0) {
        EXPECT_GT(g, s.global_index(i - 1)) << "local rows keep causal order";
      }
    }
  }
  // Rank 0: chunks 0 and 5; rank 1: 1 and 4; rank 2: 2 and 3.
  EXPECT_EQ(ContextSplit(T, K, 0).global_index(4), 20);
  EXPECT_EQ(ContextSplit(T, K, 2).global_index(0), 8);
  EXPECT_EQ(ContextSplit(T, K, 2).global_index(7), 15);
  std::vector<int32_t> whole(2 * T), local(2 * 8);
  for (int i = 0; i < 2 * T; ++i) whole[i] = i;
  ContextSplit(T, K, 1).slice(local.data(), whole.data(), 2);
  EXPECT_EQ(local,
            (std::vector<int32_t>{4, 5, 6, 7, 16, 17, 18, 19, 28, 29, 30, 31, 40, 41, 42, 43}));
}

TEST(ContextSplit, RejectsLengthsThatDoNotSplitEvenly) {
  EXPECT_THROW(ContextSplit(30, 4, 0), Error);  // not a multiple of 8
  EXPECT_THROW(ContextSplit(32, 4, 4), Error);  // rank outside the group
  EXPECT_THROW(ContextSplit(32, 0, 0), Error);
  EXPECT_NO_THROW(ContextSplit(32, 4, 3));
}

TEST(RingAttention, RejectsCallsThatDoNotMatchTheSplit) {
  Mailboxes boxes;
  LocalTransport transport(boxes, 0, 2);
  RingAttention ring(transport, 16);  // 8 local rows
  std::vector<float> buf(8 * 8 * 4, 0.0f);
  float* p = buf.data();
  kernels::AttentionShape s;
  s.T_q = s.T_kv = 8;
  s.n_heads = s.n_kv_heads = 1;
  s.head_dim = 4;
  EXPECT_THROW(ring.forward(p, p, p, p, p, s, nullptr), Error);  // no set_batch yet
  std::vector<int32_t> seg(16, 0);
  ring.set_batch(seg.data(), 1);
  EXPECT_THROW(ring.forward(p, p, p, p, p, s, nullptr), Error);  // masked batch, no local ids
  std::vector<int32_t> wrong(8, 1);
  EXPECT_THROW(ring.forward(p, p, p, p, p, s, wrong.data()), Error);  // not this rank's slice
  kernels::AttentionShape t = s;
  t.T_q = t.T_kv = 16;
  EXPECT_THROW(ring.forward(p, p, p, p, p, t, nullptr), Error);  // the whole length
}

}  // namespace
}  // namespace longctx::train
