// Tests of the block attention kernels (attention_block.h) against their double reference,
// of the reference against finite differences (also across a merge of two blocks), of the
// merge against one call over the union of the keys, and of the composition that ring
// attention relies on: causal kernel on the diagonal + block kernel below it = causal
// attention over the whole sequence, forward and backward.
#include "kernels/attention_block.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/attention_block_reference.h"
#include "kernels/attention_reference.h"
#include "kernels/attention_testing.h"
#include "kernels/simd_testing.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

using attention_testing::AttentionResults;
using attention_testing::lse_diff;
using longctx::testing::convert;
using longctx::testing::max_rel_error;
using longctx::testing::random_normal;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct BlockCase {
  int64_t T_q, T_kv;
  int H, Hkv, D;
  bool segments = false;
  float scale = 0.0f;
  int64_t lse_pad = 0;  // lse_stride = T_q + lse_pad
};

AttentionBlockShape shape_of(const BlockCase& c) {
  AttentionBlockShape s;
  s.T_q = c.T_q;
  s.T_kv = c.T_kv;
  s.n_heads = c.H;
  s.n_kv_heads = c.Hkv;
  s.head_dim = c.D;
  s.scale = c.scale;
  s.lse_stride = c.lse_pad ? c.T_q + c.lse_pad : 0;
  return s;
}

// Segment ids of a query block and a key block taken from two parts of one packed sequence:
// documents of lengths 1..40, numbered in order, the key block first (ids 0..), the query
// block continuing (its first document may be the keys' last one, later ones are new).
void make_segments(int64_t T_q, int64_t T_kv, uint64_t seed, std::vector<int32_t>& q_seg,
                   std::vector<int32_t>& k_seg) {
  std::vector<int32_t> all(static_cast<size_t>(T_kv + T_q));
  int32_t id = 0;
  int64_t left = 1 + static_cast<int64_t>(seed % 7);
  for (size_t t = 0; t < all.size(); ++t) {
    if (left-- == 0) {
      ++id;
      left = 1 + static_cast<int64_t>((t * 37 + seed * 11) % 40);
    }
    all[t] = id;
  }
  k_seg.assign(all.begin(), all.begin() + T_kv);
  q_seg.assign(all.begin() + T_kv, all.end());
}

struct BlockData {
  std::vector<float> q, k, v, dout;
  std::vector<int32_t> q_seg, k_seg;
  const int32_t* qs() const { return q_seg.empty() ? nullptr : q_seg.data(); }
  const int32_t* ks() const { return k_seg.empty() ? nullptr : k_seg.data(); }
};

BlockData make_data(const BlockCase& c, uint64_t seed) {
  BlockData d;
  d.q = random_normal<float>(c.T_q * c.H * c.D, seed);
  d.k = random_normal<float>(c.T_kv * c.Hkv * c.D, seed + 1);
  d.v = random_normal<float>(c.T_kv * c.Hkv * c.D, seed + 2);
  d.dout = random_normal<float>(c.T_q * c.H * c.D, seed + 3);
  if (c.segments) make_segments(c.T_q, c.T_kv, seed, d.q_seg, d.k_seg);
  return d;
}

int64_t lse_size(const BlockCase& c) {
  return c.H * (c.T_q + c.lse_pad);
}

std::string describe(const BlockCase& c) {
  return strformat("T_q=%lld T_kv=%lld H=%d Hkv=%d D=%d seg=%d scale=%g lse_pad=%lld",
                   static_cast<long long>(c.T_q), static_cast<long long>(c.T_kv), c.H, c.Hkv, c.D,
                   c.segments ? 1 : 0, c.scale, static_cast<long long>(c.lse_pad));
}

// Forward then backward of one block, gradients accumulated into zeros.
AttentionResults<float> run_kernels(const BlockCase& c, const BlockData& d,
                                    bool bf16_products = false) {
  AttentionBlockShape s = shape_of(c);
  s.bf16_products = bf16_products;
  AttentionResults<float> r;
  r.out.assign(d.q.size(), 0.0f);
  r.lse.assign(lse_size(c), 0.0f);
  r.dq.assign(d.q.size(), 0.0f);
  r.dk.assign(d.k.size(), 0.0f);
  r.dv.assign(d.v.size(), 0.0f);
  attention_block_forward(r.out.data(), r.lse.data(), d.q.data(), d.k.data(), d.v.data(), s, d.qs(),
                          d.ks());
  attention_block_backward(r.dq.data(), r.dk.data(), r.dv.data(), d.dout.data(), r.out.data(),
                           r.lse.data(), d.q.data(), d.k.data(), d.v.data(), s, d.qs(), d.ks());
  return r;
}

AttentionResults<double> run_reference(const BlockCase& c, const BlockData& d) {
  const AttentionBlockShape s = shape_of(c);
  const auto q = convert<double>(d.q), k = convert<double>(d.k), v = convert<double>(d.v);
  const auto dout = convert<double>(d.dout);
  AttentionResults<double> r;
  r.out.assign(q.size(), 0.0);
  r.lse.assign(lse_size(c), 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  ref::attention_block_forward(r.out.data(), r.lse.data(), q.data(), k.data(), v.data(), s, d.qs(),
                               d.ks());
  ref::attention_block_backward(r.dq.data(), r.dk.data(), r.dv.data(), dout.data(), r.out.data(),
                                r.lse.data(), q.data(), k.data(), v.data(), s, d.qs(), d.ks());
  return r;
}

class AttentionBlockSimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(AttentionBlockSimd);

// Shapes: T_q > T_kv and T_q < T_kv (ring blocks are 2C x C and C x 2C), sizes off the
// 128-key tile and 128-row query block, GQA ratios 1..8, head_dim 8..64 and 12 (not a
// multiple of the SIMD width), segments, an lse row stride larger than T_q, a scale.
const BlockCase kCases[] = {
    {1, 1, 1, 1, 8},
    {5, 3, 2, 1, 16},
    {260, 130, 4, 2, 8, true},
    {130, 260, 4, 2, 8, true, 0.0f, 70},
    {67, 200, 3, 1, 12},
    {300, 129, 2, 2, 32, true},
    {64, 64, 8, 1, 64, false, 0.3f, 5},
    {200, 1000, 8, 2, 16, true},
};

TEST_P(AttentionBlockSimd, MatchesDoubleReference) {
  uint64_t seed = 300;
  for (const BlockCase& c : kCases) {
    SCOPED_TRACE(describe(c));
    const BlockData d = make_data(c, seed += 10);
    attention_testing::expect_close_to_reference(run_kernels(c, d), run_reference(c, d));
  }
}

// With bf16 tile products (ring attention under --matmul-precision bf16), both ways: within
// bf16's bounds of the double reference (attention_testing.h).
TEST_P(AttentionBlockSimd, Bf16ProductsMatchDoubleReferenceWithinBf16Rounding) {
  for (const bool instruction : bf16_ways()) {
    SCOPED_TRACE(instruction ? "bf16 instruction" : "fp32 FMA on rounded operands");
    const Bf16Way way(instruction);
    uint64_t seed = 800;
    for (const BlockCase& c : kCases) {
      SCOPED_TRACE(describe(c));
      const BlockData d = make_data(c, seed += 10);
      attention_testing::expect_bf16_close_to_reference(run_kernels(c, d, /*bf16_products=*/true),
                                                        run_reference(c, d));
    }
  }
}

// A query whose segment appears in no key of the block: out 0, lse -inf; merged into an
// existing row it changes nothing; its backward adds nothing.
TEST_P(AttentionBlockSimd, RowsWithoutVisibleKeysAreEmpty) {
  const BlockCase c{4, 3, 2, 1, 8, true};
  const AttentionBlockShape s = shape_of(c);
  BlockData d = make_data(c, 5);
  d.k_seg = {0, 0, 1};
  d.q_seg = {1, 2, 2, 0};  // rows 1 and 2 see nothing
  std::vector<float> out(d.q.size(), 7.0f), lse(lse_size(c), 3.0f);
  attention_block_forward(out.data(), lse.data(), d.q.data(), d.k.data(), d.v.data(), s, d.qs(),
                          d.ks());
  for (int64_t i : {1, 2})
    for (int h = 0; h < c.H; ++h) {
      EXPECT_EQ(lse[h * c.T_q + i], kNegInf);
      for (int x = 0; x < c.D; ++x) EXPECT_EQ(out[(i * c.H + h) * c.D + x], 0.0f);
    }
  EXPECT_TRUE(std::isfinite(lse[0]));
  // Merge: the empty rows keep what they held.
  std::vector<float> out2(d.q.size(), 7.0f), lse2(lse_size(c), 3.0f);
  AttentionBlockShape m = s;
  m.merge = true;
  attention_block_forward(out2.data(), lse2.data(), d.q.data(), d.k.data(), d.v.data(), m, d.qs(),
                          d.ks());
  EXPECT_EQ(out2[(1 * c.H + 0) * c.D], 7.0f);
  EXPECT_EQ(lse2[1], 3.0f);
  EXPECT_GT(lse2[0], 3.0f);  // row 0 sees two keys: its lse grows
  // Backward with lse -inf rows: no NaN, nothing added to their dq.
  std::vector<float> dq(d.q.size(), 0.0f), dk(d.k.size(), 0.0f), dv(d.v.size(), 0.0f);
  attention_block_backward(dq.data(), dk.data(), dv.data(), d.dout.data(), out.data(), lse.data(),
                           d.q.data(), d.k.data(), d.v.data(), s, d.qs(), d.ks());
  for (float x : dq) EXPECT_TRUE(std::isfinite(x));
  for (int h = 0; h < c.H; ++h)
    for (int x = 0; x < c.D; ++x) EXPECT_EQ(dq[(1 * c.H + h) * c.D + x], 0.0f);
}

// Keys split into two blocks: forward over the first, merged with the second, equals one
// call over both; the two backwards (given the merged out and lse) add up to the backward of
// the single call.
TEST_P(AttentionBlockSimd, MergedBlocksEqualOneBlock) {
  const BlockCase all{150, 330, 4, 2, 16, true, 0.0f, 9};
  const int64_t split = 140;  // off the tile boundary
  const AttentionBlockShape s = shape_of(all);
  const BlockData d = make_data(all, 77);
  const int64_t kv_row = all.Hkv * all.D;
  std::vector<float> out1(d.q.size()), lse1(lse_size(all));
  attention_block_forward(out1.data(), lse1.data(), d.q.data(), d.k.data(), d.v.data(), s, d.qs(),
                          d.ks());
  AttentionBlockShape a = s, b = s;
  a.T_kv = split;
  b.T_kv = all.T_kv - split;
  b.merge = true;
  std::vector<float> out2(d.q.size()), lse2(lse_size(all));
  attention_block_forward(out2.data(), lse2.data(), d.q.data(), d.k.data(), d.v.data(), a, d.qs(),
                          d.ks());
  attention_block_forward(out2.data(), lse2.data(), d.q.data(), d.k.data() + split * kv_row,
                          d.v.data() + split * kv_row, b, d.qs(), d.ks() + split);
  EXPECT_LT(max_rel_error(out2, out1), 2e-6);
  EXPECT_LT(lse_diff(lse2, convert<double>(lse1)), 2e-6);

  std::vector<float> dq1(d.q.size(), 0.0f), dk1(d.k.size(), 0.0f), dv1(d.v.size(), 0.0f);
  attention_block_backward(dq1.data(), dk1.data(), dv1.data(), d.dout.data(), out1.data(),
                           lse1.data(), d.q.data(), d.k.data(), d.v.data(), s, d.qs(), d.ks());
  std::vector<float> dq2(d.q.size(), 0.0f), dk2(d.k.size(), 0.0f), dv2(d.v.size(), 0.0f);
  attention_block_backward(dq2.data(), dk2.data(), dv2.data(), d.dout.data(), out2.data(),
                           lse2.data(), d.q.data(), d.k.data(), d.v.data(), a, d.qs(), d.ks());
  attention_block_backward(dq2.data(), dk2.data() + split * kv_row, dv2.data() + split * kv_row,
                           d.dout.data(), out2.data(), lse2.data(), d.q.data(),
                           d.k.data() + split * kv_row, d.v.data() + split * kv_row, b, d.qs(),
                           d.ks() + split);
  EXPECT_LT(max_rel_error(dq2, dq1), 3e-6);
  EXPECT_LT(max_rel_error(dk2, dk1), 3e-6);
  EXPECT_LT(max_rel_error(dv2, dv1), 3e-6);
}

// What ring attention computes on one sequence: causal attention over [A; B] = the causal
// kernel on A, the causal kernel on B's own keys merged with the block kernel of B's queries
// over A's keys; the backward is the causal backward of each diagonal part plus the block
// backward, all given the merged out and lse. Checked against the double causal reference
// over the whole sequence, with packed documents and GQA.
TEST_P(AttentionBlockSimd, CausalDiagonalPlusBlockEqualsCausalAttention) {
  const int64_t n = 150, T = 2 * n;
  const int H = 4, Hkv = 2, D = 16;
  const int64_t q_row = H * D, kv_row = Hkv * D;
  const auto q = random_normal<float>(T * q_row, 901), k = random_normal<float>(T * kv_row, 902);
  const auto v = random_normal<float>(T * kv_row, 903), dout = random_normal<float>(T * q_row, 904);
  std::vector<int32_t> seg_b, seg_a;  // the sequence's documents: A's ids, then B's
  make_segments(n, n, 3, seg_b, seg_a);
  std::vector<int32_t> seg(seg_a);
  seg.insert(seg.end(), seg_b.begin(), seg_b.end());

  AttentionShape half;
  half.T_q = half.T_kv = n;
  half.n_heads = H;
  half.n_kv_heads = Hkv;
  half.head_dim = D;
  AttentionBlockShape below;  // B's queries over A's keys
  below.T_q = below.T_kv = n;
  below.n_heads = H;
  below.n_kv_heads = Hkv;
  below.head_dim = D;
  below.lse_stride = n;
  below.merge = true;
  // Forward: out/lse in the causal kernels' layout, lse (H, n) per half.
  std::vector<float> out(T * q_row), lse_a(H * n), lse_b(H * n);
  attention_forward(out.data(), lse_a.data(), q.data(), k.data(), v.data(), half, seg_a.data());
  attention_forward(out.data() + n * q_row, lse_b.data(), q.data() + n * q_row,
                    k.data() + n * kv_row, v.data() + n * kv_row, half, seg_b.data());
  attention_block_forward(out.data() + n * q_row, lse_b.data(), q.data() + n * q_row, k.data(),
                          v.data(), below, seg_b.data(), seg_a.data());
  // Backward: diagonal parts write (=), the block adds.
  std::vector<float> dq(T * q_row), dk(T * kv_row), dv(T * kv_row);
  attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse_a.data(),
                     q.data(), k.data(), v.data(), half, seg_a.data());
  attention_backward(dq.data() + n * q_row, dk.data() + n * kv_row, dv.data() + n * kv_row,
                     dout.data() + n * q_row, out.data() + n * q_row, lse_b.data(),
                     q.data() + n * q_row, k.data() + n * kv_row, v.data() + n * kv_row, half,
                     seg_b.data());
  attention_block_backward(dq.data() + n * q_row, dk.data(), dv.data(), dout.data() + n * q_row,
                           out.data() + n * q_row, lse_b.data(), q.data() + n * q_row, k.data(),
                           v.data(), below, seg_b.data(), seg_a.data());

  AttentionShape whole = half;
  whole.T_q = whole.T_kv = T;
  const auto qd = convert<double>(q), kd = convert<double>(k), vd = convert<double>(v);
  const auto doutd = convert<double>(dout);
  AttentionResults<double> r;
  r.out.resize(qd.size());
  r.lse.resize(H * T);
  r.dq.resize(qd.size());
  r.dk.resize(kd.size());
  r.dv.resize(kd.size());
  ref::attention_forward(r.out.data(), r.lse.data(), qd.data(), kd.data(), vd.data(), whole,
                         seg.data());
  ref::attention_backward(r.dq.data(), r.dk.data(), r.dv.data(), doutd.data(), qd.data(), kd.data(),
                          vd.data(), whole, seg.data());
  std::vector<float> lse(H * T);
  for (int h = 0; h < H; ++h)
    for (int64_t i = 0; i < n; ++i) {
      lse[h * T + i] = lse_a[h * n + i];
      lse[h * T + n + i] = lse_b[h * n + i];
    }
  attention_testing::expect_close_to_reference({out, lse, dq, dk, dv}, r);
}

TEST_P(AttentionBlockSimd, DeterministicAcrossRunsAndThreads) {
  const BlockCase c{300, 260, 8, 2, 32, true};
  const BlockData d = make_data(c, 21);
  attention_testing::expect_deterministic_across_runs_and_threads(
      [&] { return run_kernels(c, d); });
}

// The reference backward is the derivative of the reference forward, also across a merge:
// out = merge(block over keys A, block over keys B), L = sum(dout * out); the two block
// backwards given the merged out and lse must equal central differences of L (double,
// h = 1e-6) with respect to q, both key blocks and both value blocks.
TEST(AttentionBlock, ReferenceGradientMatchesFiniteDifferencesAcrossMerge) {
  const int64_t T_q = 3, n_a = 4, n_b = 3;
  const int H = 4, Hkv = 2, D = 3;
  const int64_t kv_row = Hkv * D;
  const auto q = convert<double>(random_normal<float>(T_q * H * D, 1));
  const auto k = convert<double>(random_normal<float>((n_a + n_b) * kv_row, 2));
  const auto v = convert<double>(random_normal<float>((n_a + n_b) * kv_row, 3));
  const auto dout = convert<double>(random_normal<float>(T_q * H * D, 4));
  const std::vector<int32_t> q_seg = {1, 1, 2}, k_seg = {0, 1, 1, 2, 1, 2, 2};
  AttentionBlockShape a;
  a.T_q = T_q;
  a.T_kv = n_a;
  a.n_heads = H;
  a.n_kv_heads = Hkv;
  a.head_dim = D;
  a.scale = 0.7f;
  AttentionBlockShape b = a;
  b.T_kv = n_b;
  b.merge = true;
  auto forward = [&](const std::vector<double>& qq, const std::vector<double>& kk,
                     const std::vector<double>& vv, std::vector<double>& out,
                     std::vector<double>& lse) {
    out.assign(qq.size(), 0.0);
    lse.assign(H * T_q, 0.0);
    ref::attention_block_forward(out.data(), lse.data(), qq.data(), kk.data(), vv.data(), a,
                                 q_seg.data(), k_seg.data());
    ref::attention_block_forward(out.data(), lse.data(), qq.data(), kk.data() + n_a * kv_row,
                                 vv.data() + n_a * kv_row, b, q_seg.data(), k_seg.data() + n_a);
  };
  auto loss = [&](const std::vector<double>& qq, const std::vector<double>& kk,
                  const std::vector<double>& vv) {
    std::vector<double> out, lse;
    forward(qq, kk, vv, out, lse);
    return longctx::testing::dot(out.data(), dout.data(), static_cast<int64_t>(out.size()));
  };
  std::vector<double> out, lse;
  forward(q, k, v, out, lse);
  std::vector<double> dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  ref::attention_block_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(),
                                lse.data(), q.data(), k.data(), v.data(), a, q_seg.data(),
                                k_seg.data());
  ref::attention_block_backward(dq.data(), dk.data() + n_a * kv_row, dv.data() + n_a * kv_row,
                                dout.data(), out.data(), lse.data(), q.data(),
                                k.data() + n_a * kv_row, v.data() + n_a * kv_row, b, q_seg.data(),
                                k_seg.data() + n_a);
  attention_testing::expect_gradients_match_finite_differences(loss, q, k, v, dq, dk, dv);
  // Not vacuous across the merge: both key blocks get some gradient.
  EXPECT_GT(std::fabs(dk[0]) + std::fabs(dk[n_a * kv_row]), 1e-3);
}

// Closed form: with q = 0 every visible key weighs the same, so out is the mean of v over
// the query's segment in the block and lse = log(count).
TEST(AttentionBlock, ReferenceUniformScoresGiveMeanOfVisibleValues) {
  const std::vector<int32_t> q_seg = {5, 6}, k_seg = {5, 6, 5, 5};
  AttentionBlockShape s;
  s.T_q = 2;
  s.T_kv = 4;
  s.n_heads = s.n_kv_heads = 1;
  s.head_dim = 1;
  const std::vector<double> q = {0.0, 0.0}, k = {1.0, 2.0, 3.0, 4.0}, v = {1.0, 10.0, 2.0, 6.0};
  std::vector<double> out(2), lse(2);
  ref::attention_block_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), s,
                               q_seg.data(), k_seg.data());
  EXPECT_NEAR(out[0], 3.0, 1e-12);  // (1 + 2 + 6) / 3
  EXPECT_NEAR(lse[0], std::log(3.0), 1e-12);
  EXPECT_NEAR(out[1], 10.0, 1e-12);
  EXPECT_NEAR(lse[1], 0.0, 1e-12);
}

TEST(AttentionBlock, RejectsBadShapes) {
  std::vector<float> buf(4096, 0.0f);
  float* p = buf.data();
  const std::vector<int32_t> seg(64, 0);
  AttentionBlockShape good;
  good.T_q = 4;
  good.T_kv = 6;
  good.n_heads = 4;
  good.n_kv_heads = 2;
  good.head_dim = 8;
  auto fwd = [&](const AttentionBlockShape& s, const int32_t* qs, const int32_t* ks) {
    attention_block_forward(p, p, p, p, p, s, qs, ks);
  };
  EXPECT_NO_THROW(fwd(good, nullptr, nullptr));
  EXPECT_NO_THROW(fwd(good, seg.data(), seg.data()));
  EXPECT_THROW(fwd(good, seg.data(), nullptr), Error);  // segments on one side only
  AttentionBlockShape s = good;
  s.n_kv_heads = 3;
  EXPECT_THROW(fwd(s, nullptr, nullptr), Error);
  s = good;
  s.lse_stride = 3;  // < T_q
  EXPECT_THROW(fwd(s, nullptr, nullptr), Error);
  s = good;
  s.head_dim = 0;
  EXPECT_THROW(fwd(s, nullptr, nullptr), Error);
  EXPECT_THROW(attention_block_forward(nullptr, p, p, p, p, good), Error);
  EXPECT_THROW(attention_block_backward(p, p, p, p, p, nullptr, p, p, p, good), Error);
}

}  // namespace
}  // namespace longctx::kernels
