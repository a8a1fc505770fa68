// Tests of the tiled attention kernels against the double reference, of the
// reference against finite differences and closed forms, and of the kernels'
// memory use, determinism and input checks.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"
#include "kernels/attention_reference.h"
#include "kernels/attention_testing.h"
#include "kernels/simd_testing.h"
#include "kernels/storage_type.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

using longctx::testing::convert;
using longctx::testing::random_normal;
using Grads = attention_testing::AttentionResults<float>;
using RefGrads = attention_testing::AttentionResults<double>;

enum class Segments { kNone, kContiguous, kScattered };

struct Case {
  int64_t B, T_q, T_kv;
  int H, Hkv, D;
  int64_t stride_pad = 0;  // extra floats between k/v batches (kv_batch_stride > dense)
  Segments segments = Segments::kNone;
  float scale = 0.0f;
};

AttentionShape shape_of(const Case& c) {
  AttentionShape s;
  s.B = c.B;
  s.T_q = c.T_q;
  s.T_kv = c.T_kv;
  s.n_heads = c.H;
  s.n_kv_heads = c.Hkv;
  s.head_dim = c.D;
  s.kv_batch_stride = c.stride_pad ? c.T_kv * c.Hkv * c.D + c.stride_pad : 0;
  s.scale = c.scale;
  return s;
}

// Segment ids (B, T_kv): contiguous documents of pseudo-random lengths 1..13, or
// ids that reappear non-contiguously (i*7 mod 3), which the kernels must also honour.
std::vector<int32_t> make_segments(const Case& c) {
  std::vector<int32_t> seg(static_cast<size_t>(c.B * c.T_kv));
  for (int64_t b = 0; b < c.B; ++b) {
    int32_t id = 0;
    int64_t left = 3 + b;
    for (int64_t t = 0; t < c.T_kv; ++t) {
      if (c.segments == Segments::kScattered) {
        seg[b * c.T_kv + t] = static_cast<int32_t>((t * 7 / 5) % 3);
        continue;
      }
      if (left-- == 0) {
        ++id;
        left = 1 + (t * 37 + b * 11) % 13;
      }
      seg[b * c.T_kv + t] = id;
    }
  }
  return seg;
}

struct Data {
  std::vector<float> q, k, v, dout;  // k, v (B, kv_batch_stride) with NaN padding
  std::vector<int32_t> seg;
};

Data make_data(const Case& c, uint64_t seed) {
  const AttentionShape s = shape_of(c);
  const int64_t kv_stride = s.kv_batch_stride ? s.kv_batch_stride : c.T_kv * c.Hkv * c.D;
  Data d;
  d.q = random_normal<float>(c.B * c.T_q * c.H * c.D, seed);
  d.k = random_normal<float>(c.B * kv_stride, seed + 1);
  d.v = random_normal<float>(c.B * kv_stride, seed + 2);
  d.dout = random_normal<float>(c.B * c.T_q * c.H * c.D, seed + 3);
  // Padding between batches must never be read: NaN there would poison the result.
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = c.T_kv * c.Hkv * c.D; i < kv_stride; ++i) {
      d.k[b * kv_stride + i] = std::numeric_limits<float>::quiet_NaN();
      d.v[b * kv_stride + i] = std::numeric_limits<float>::quiet_NaN();
    }
  if (c.segments != Segments::kNone) d.seg = make_segments(c);
  return d;
}

Grads run_kernels(const Case& c, const Data& d, bool bf16_products = false) {
  AttentionShape s = shape_of(c);
  s.bf16_products = bf16_products;
  const int32_t* seg = d.seg.empty() ? nullptr : d.seg.data();
  Grads r;
  r.out.resize(c.B * c.T_q * c.H * c.D);
  r.lse.resize(c.B * c.H * c.T_q);
  r.dq.resize(r.out.size());
  r.dk.resize(c.B * c.T_kv * c.Hkv * c.D);
  r.dv.resize(r.dk.size());
  attention_forward(r.out.data(), r.lse.data(), d.q.data(), d.k.data(), d.v.data(), s, seg);
  attention_backward(r.dq.data(), r.dk.data(), r.dv.data(), d.dout.data(), r.out.data(),
                     r.lse.data(), d.q.data(), d.k.data(), d.v.data(), s, seg);
  return r;
}

RefGrads run_reference(const Case& c, const Data& d) {
  const AttentionShape s = shape_of(c);
  const int32_t* seg = d.seg.empty() ? nullptr : d.seg.data();
  const auto q = convert<double>(d.q), k = convert<double>(d.k), v = convert<double>(d.v);
  const auto dout = convert<double>(d.dout);
  RefGrads r;
  r.out.resize(q.size());
  r.lse.resize(c.B * c.H * c.T_q);
  r.dq.resize(q.size());
  r.dk.resize(c.B * c.T_kv * c.Hkv * c.D);
  r.dv.resize(r.dk.size());
  ref::attention_forward(r.out.data(), r.lse.data(), q.data(), k.data(), v.data(), s, seg);
  ref::attention_backward(r.dq.data(), r.dk.data(), r.dv.data(), dout.data(), q.data(), k.data(),
                          v.data(), s, seg);
  return r;
}

std::string describe(const Case& c) {
  return strformat("B=%lld T_q=%lld T_kv=%lld H=%d Hkv=%d D=%d pad=%lld seg=%d scale=%g",
                   static_cast<long long>(c.B), static_cast<long long>(c.T_q),
                   static_cast<long long>(c.T_kv), c.H, c.Hkv, c.D,
                   static_cast<long long>(c.stride_pad), static_cast<int>(c.segments), c.scale);
}

// Runs once per compiled SIMD target this CPU supports (simd_testing.h).
class AttentionSimd : public longctx::kernels::PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(AttentionSimd);

// Odd shapes: T = 1, T not a multiple of the 128-key tile or the 128-row query
// block, GQA ratios 1..8,
// head_dim 8..64 and one (12) that is not a multiple of the SIMD width,
// B = 2, T_q < T_kv (decode, chunked prefill, a long cache), segment ids, padded
// k/v batches.
const Case kCases[] = {
    {1, 1, 1, 1, 1, 8},
    {2, 5, 5, 2, 1, 16},
    {2, 67, 67, 4, 1, 32, 0, Segments::kContiguous},
    {1, 130, 130, 4, 2, 64, 40},
    {2, 37, 130, 2, 2, 32, 16, Segments::kContiguous},
    {1, 200, 200, 3, 1, 12},
    {1, 1, 67, 8, 2, 64},
    {2, 130, 130, 8, 1, 16, 0, Segments::kScattered},
    {1, 67, 67, 2, 2, 32, 0, Segments::kNone, 0.3f},
    {2, 64, 192, 4, 4, 8, 8, Segments::kContiguous},
    {1, 300, 300, 2, 2, 16, 0, Segments::kContiguous},  // G = 1: three 128-row blocks
    {1, 70, 8000, 2, 1, 32},  // long key range: 125 key tiles per query row
};

TEST_P(AttentionSimd, MatchesDoubleReference) {
  uint64_t seed = 100;
  for (const Case& c : kCases) {
    SCOPED_TRACE(describe(c));
    const Data d = make_data(c, seed += 10);
    const Grads g = run_kernels(c, d);
    attention_testing::expect_close_to_reference(g, run_reference(c, d));
  }
}

// bf16 tile products (AttentionShape::bf16_products), both ways (bf16_ways): the odd shapes
// above, plus G = 5 (125-row query blocks, so half the blocks start on an odd row and the
// products paired along query rows straddle a block edge), an odd head_dim (the last
// pair of a row holds one element) and LLaMA's head_dim 128, against the double reference
// within bf16's bounds (attention_testing.h). And the rounding must show: each result
// differs from the fp32 kernels' by far more than their 4e-6 (so bf16 operands are in use).
TEST_P(AttentionSimd, Bf16ProductsMatchDoubleReferenceWithinBf16Rounding) {
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({1, 260, 260, 5, 1, 16, 0, Segments::kContiguous});
  cases.push_back({2, 70, 140, 4, 2, 9});
  cases.push_back({1, 150, 150, 8, 1, 128});  // LLaMA's head_dim, G = 8
  for (const bool instruction : bf16_ways()) {
    SCOPED_TRACE(instruction ? "bf16 instruction" : "fp32 FMA on rounded operands");
    const Bf16Way way(instruction);
    uint64_t seed = 700;
    std::vector<double> worst(4, 0.0);
    for (const Case& c : cases) {
      SCOPED_TRACE(describe(c));
      const Data d = make_data(c, seed += 10);
      const Grads g = run_kernels(c, d, /*bf16_products=*/true);
      const std::vector<double> e =
          attention_testing::expect_bf16_close_to_reference(g, run_reference(c, d));
      for (size_t i = 0; i < e.size(); ++i) worst[i] = std::max(worst[i], e[i]);
      if (c.T_kv > 1) {  // one key per query: out = v whatever the products' precision
        const Grads f = run_kernels(c, d);
        EXPECT_GT(longctx::testing::max_rel_error(g.out, f.out), 1e-4);
        EXPECT_GT(longctx::testing::max_rel_error(g.dk, f.dk), 1e-4);
      }
    }
    std::printf("[ bf16 attention ] worst out %.2e grads %.2e max-entry %.2e lse %.2e\n", worst[0],
                worst[1], worst[2], worst[3]);
  }
}

// The bf16 path is as deterministic as the fp32 one: bit-identical run to run, and but for
// dq's summation order across thread counts.
TEST_P(AttentionSimd, Bf16ProductsDeterministicAcrossRunsAndThreads) {
  const Case c{2, 300, 300, 8, 2, 32, 0, Segments::kContiguous};
  const Data d = make_data(c, 11);
  attention_testing::expect_deterministic_across_runs_and_threads(
      [&] { return run_kernels(c, d, /*bf16_products=*/true); });
}

// On an AVX-512 target of a CPU with AVX512_BF16 the instruction is what runs: it sums each
// pair in another order than the FMA way, so forward and backward differ in the last bits
// (and both meet the reference above). Skips where the CPU lacks the instruction.
TEST_P(AttentionSimd, Bf16InstructionRunsWhereTheCpuHasIt) {
  if (!avx512_target(GetParam()) || !gemm_bf16_instruction())
    GTEST_SKIP() << "no bf16 instruction on target " << simd_target_name(GetParam())
                 << " (CPU avx512_bf16: " << gemm_bf16_instruction() << ")";
  const Case c{1, 200, 200, 4, 2, 32};
  const Data d = make_data(c, 21);
  const Grads with = run_kernels(c, d, /*bf16_products=*/true);
  Grads without;
  {
    const Bf16Way way(false);
    without = run_kernels(c, d, /*bf16_products=*/true);
  }
  for (std::vector<float> Grads::*t : {&Grads::out, &Grads::dq, &Grads::dk, &Grads::dv}) {
    EXPECT_FALSE(attention_testing::same_bits(with.*t, without.*t));
    EXPECT_LT(longctx::testing::max_rel_error(with.*t, without.*t), 1e-3);
  }
}

TEST_P(AttentionSimd, ForwardWithoutLseGivesSameOutput) {
  const Case c{2, 67, 67, 4, 2, 32, 0, Segments::kContiguous};
  const Data d = make_data(c, 7);
  const Grads g = run_kernels(c, d);
  std::vector<float> out(g.out.size());
  attention_forward(out.data(), nullptr, d.q.data(), d.k.data(), d.v.data(), shape_of(c),
                    d.seg.data());
  EXPECT_TRUE(attention_testing::same_bits(out, g.out));
}

// Random keys and values of a B = 1 case stored in a cache's type, and the f32 rows that
// storage decodes to.
struct CachedKv {
  size_t row_bytes;
  std::vector<uint8_t> kc, vc;
  std::vector<float> ks, vs;
  CachedKv(StorageType type, const Case& c, uint64_t seed) {
    const int64_t KD = static_cast<int64_t>(c.Hkv) * c.D;
    const std::vector<float> k = random_normal<float>(c.T_kv * KD, seed + 1);
    const std::vector<float> v = random_normal<float>(c.T_kv * KD, seed + 2);
    row_bytes = storage_row_bytes(type, KD);
    kc.resize(row_bytes * static_cast<size_t>(c.T_kv));
    vc.resize(kc.size());
    quantize_rows(kc.data(), type, k.data(), c.T_kv, KD);
    quantize_rows(vc.data(), type, v.data(), c.T_kv, KD);
    ks.resize(k.size());
    vs.resize(v.size());
    dequantize_rows(ks.data(), type, kc.data(), row_bytes, c.T_kv, KD);
    dequantize_rows(vs.data(), type, vc.data(), row_bytes, c.T_kv, KD);
  }
};

// The prefill form reads a KV cache in its stored type and converts the rows while
// packing: bit-identical to the f32 forward on the converted rows, for every type, for
// the query blocks that pack their own tiles (few rows) and those sharing a group's
// packed tiles (many), with a kv head that starts inside a Q8_0 block (D = 48); with fp32
// and with bf16 tile products.
TEST_P(AttentionSimd, CachedRowsMatchForwardOnConvertedRows) {
  struct CachedCase {
    StorageType type;
    Case shape;  // B = 1
  };
  const CachedCase cases[] = {
      {StorageType::kF32, {1, 520, 700, 4, 2, 32}},  {StorageType::kBF16, {1, 520, 700, 4, 2, 32}},
      {StorageType::kQ8_0, {1, 520, 700, 4, 2, 32}}, {StorageType::kQ8_0, {1, 3, 700, 4, 2, 32}},
      {StorageType::kBF16, {1, 5, 300, 6, 2, 12}},   {StorageType::kBF16, {1, 600, 600, 6, 2, 12}},
      {StorageType::kQ8_0, {1, 400, 401, 4, 2, 48}}, {StorageType::kQ8_0, {1, 1, 130, 4, 2, 48}},
  };
  uint64_t seed = 500;
  for (const CachedCase& cc : cases) {
    const Case& c = cc.shape;
    SCOPED_TRACE(std::string(storage_type_name(cc.type)) + " " + describe(c));
    const std::vector<float> q = random_normal<float>(c.T_q * c.H * c.D, seed += 3);
    const CachedKv kv(cc.type, c, seed);
    const size_t row_bytes = kv.row_bytes;
    const std::vector<uint8_t>&kc = kv.kc, &vc = kv.vc;
    const std::vector<float>&ks = kv.ks, &vs = kv.vs;
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(bf16 ? "bf16 products" : "fp32 products");
      AttentionShape s = shape_of(c);
      s.bf16_products = bf16;
      std::vector<float> want(q.size()), got(q.size(), -1.0f);
      attention_forward(want.data(), nullptr, q.data(), ks.data(), vs.data(), s);
      attention_forward_cached(got.data(), q.data(), {cc.type, kc.data(), row_bytes},
                               {cc.type, vc.data(), row_bytes}, s);
      EXPECT_TRUE(attention_testing::same_bits(got, want));
    }
  }
  const AttentionShape bad = shape_of({2, 4, 4, 1, 1, 8});  // B = 2
  std::vector<float> buf(64, 0.0f);
  const KvRowsView rows{StorageType::kF32, buf.data(), 8 * sizeof(float)};
  EXPECT_THROW(attention_forward_cached(buf.data(), buf.data(), rows, rows, bad), Error);
}

// A prefill chunk against a long cache (few queries, many keys) packs and visits the keys a
// segment of kSegmentKeys at a time, each query block keeping its running state between
// segments. The result must be bit-identical to the blocks that pack their own tiles and
// visit all keys in one go (the same blocks, chosen by giving the call more threads than
// half its blocks), and close to the double reference. Shapes: blocks that finish in the
// first segment, blocks straddling a segment boundary, three segments with G = 3 and a
// head starting inside a Q8_0 block (D = 48). With bf16 tile products, the same
// bit-identity, and the reference within bf16_products' bounds.
TEST_P(AttentionSimd, CachedLongKeysBySegmentMatchUnsegmentedAndReference) {
  struct SegCase {
    StorageType type;
    Case shape;        // B = 1
    int unsegmented;   // threads > n_blocks / 2: blocks pack their own tiles
  };
  const SegCase cases[] = {
      {StorageType::kF32, {1, 256, 4200, 4, 2, 32}, 3},
      {StorageType::kBF16, {1, 256, 4200, 4, 2, 32}, 3},
      {StorageType::kQ8_0, {1, 384, 8400, 6, 2, 48}, 6},
  };
  uint64_t seed = 900;
  for (const SegCase& sc : cases) {
    const Case& c = sc.shape;
    SCOPED_TRACE(std::string(storage_type_name(sc.type)) + " " + describe(c));
    const std::vector<float> q = random_normal<float>(c.T_q * c.H * c.D, seed += 3);
    const CachedKv kv(sc.type, c, seed);
    const size_t row_bytes = kv.row_bytes;
    const std::vector<uint8_t>&kc = kv.kc, &vc = kv.vc;
    const KvRowsView kr{sc.type, kc.data(), row_bytes}, vr{sc.type, vc.data(), row_bytes};
    const auto qd = convert<double>(q), kd = convert<double>(kv.ks), vd = convert<double>(kv.vs);
    std::vector<double> want(q.size());
    ref::attention_forward(want.data(), nullptr, qd.data(), kd.data(), vd.data(), shape_of(c),
                           nullptr);
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(bf16 ? "bf16 products" : "fp32 products");
      AttentionShape s = shape_of(c);
      s.bf16_products = bf16;
      // With 2 threads the keys are packed a segment at a time: past two segments' worth of
      // keys, the estimate is under what packing all of them takes.
      const int64_t Dp = (c.D + 15) / 16 * 16;
      if (c.T_kv > 8192) {
        EXPECT_LT(attention_forward_cached_scratch_bytes(s, 2),
                  static_cast<size_t>(2 * c.T_kv * Dp) * sizeof(float));
      }
      std::vector<float> seg(q.size(), -1.0f), whole(q.size(), -2.0f);
      set_num_threads(2);
      attention_forward_cached(seg.data(), q.data(), kr, vr, s);
      set_num_threads(sc.unsegmented);
      attention_forward_cached(whole.data(), q.data(), kr, vr, s);
      set_num_threads(0);
      EXPECT_TRUE(attention_testing::same_bits(seg, whole));
      // fp32: the tolerances of expect_close_to_reference (out), sums over up to 9,000 keys;
      // bf16: those of Bf16ProductsMatchDoubleReferenceWithinBf16Rounding.
      EXPECT_LT(longctx::testing::max_rel_error(seg, want), bf16 ? 1e-2 : 4e-6);
      EXPECT_LT(attention_testing::scaled_max(seg, want), bf16 ? 2.5e-2 : 1e-5);
    }
  }
}

// The reference's backward is the derivative of its forward, L = sum(dout * out).
TEST(Attention, ReferenceGradientMatchesFiniteDifferences) {
  const Case c{2, 3, 5, 4, 2, 3, 0, Segments::kContiguous, 0.7f};
  const AttentionShape s = shape_of(c);
  const Data d = make_data(c, 3);
  const auto q = convert<double>(d.q), k = convert<double>(d.k), v = convert<double>(d.v);
  const auto dout = convert<double>(d.dout);
  std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
  ref::attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(),
                          v.data(), s, d.seg.data());
  auto loss = [&](const std::vector<double>& qq, const std::vector<double>& kk,
                  const std::vector<double>& vv) {
    std::vector<double> out(qq.size());
    ref::attention_forward(out.data(), nullptr, qq.data(), kk.data(), vv.data(), s, d.seg.data());
    return longctx::testing::dot(out.data(), dout.data(), static_cast<int64_t>(out.size()));
  };
  attention_testing::expect_gradients_match_finite_differences(loss, q, k, v, dq, dk, dv);
}

// Closed form: with q = 0 every visible key gets equal weight, so out is the mean
// of v over the visible keys and lse = log(count). Checks the reference's masking
// (causal offset for T_q < T_kv, segments) independently of any softmax code.
TEST(Attention, ReferenceUniformScoresGiveMeanOfVisibleValues) {
  const Case c{1, 4, 9, 2, 1, 2, 0, Segments::kContiguous};
  const AttentionShape s = shape_of(c);
  const Data d = make_data(c, 5);
  std::vector<double> q(c.T_q * c.H * c.D, 0.0), v = convert<double>(d.v), k = convert<double>(d.k);
  std::vector<double> out(q.size()), lse(c.H * c.T_q);
  ref::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), s, d.seg.data());
  for (int64_t i = 0; i < c.T_q; ++i) {
    const int64_t pos = c.T_kv - c.T_q + i;
    for (int h = 0; h < c.H; ++h)
      for (int x = 0; x < c.D; ++x) {
        double sum = 0.0;
        int count = 0;
        for (int64_t j = 0; j <= pos; ++j)
          if (d.seg[j] == d.seg[pos]) sum += v[j * c.D + x], ++count;
        EXPECT_NEAR(out[(i * c.H + h) * c.D + x], sum / count, 1e-12);
        EXPECT_NEAR(lse[h * c.T_q + i], std::log(static_cast<double>(count)), 1e-12);
      }
  }
}

TEST_P(AttentionSimd, DeterministicAcrossRunsAndThreads) {
  const Case c{2, 300, 300, 8, 2, 32, 0, Segments::kContiguous};
  const Data d = make_data(c, 11);
  attention_testing::expect_deterministic_across_runs_and_threads(
      [&] { return run_kernels(c, d); });
}

// Resets the kernel's high-water mark of resident memory (Linux clear_refs "5").
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.close();
  return !f.fail();
}

// O(T) memory: forward + backward at T = 16384 must not grow the peak RSS by
// anything like the T^2 = 256M floats (1 GiB) a materialised score matrix needs.
TEST(Attention, MemoryStaysLinearInSequenceLength) {
  const int64_t T = 16384;
  const Case c{1, T, T, 2, 1, 32};
  const AttentionShape s = shape_of(c);
  std::vector<float> q(T * 2 * 32, 0.01f), k(T * 32, 0.02f), v(T * 32, 0.5f), dout(q.size(), 1.0f);
  std::vector<float> out(q.size(), 0.0f), lse(2 * T, 0.0f), dq(q.size(), 0.0f);
  std::vector<float> dk(k.size(), 0.0f), dv(k.size(), 0.0f);
  if (!reset_peak_rss()) GTEST_SKIP() << "cannot reset VmHWM via /proc/self/clear_refs";
  const size_t before = peak_rss_bytes();
  attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), s);
  attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), out.data(), lse.data(),
                     q.data(), k.data(), v.data(), s);
  const size_t growth = peak_rss_bytes() - before;
  // Expected ~16 MiB: packed k/v (forward, 2*T*D floats), packed q/dout (backward,
  // 2*T*G*D) and a (T*G, D) dq partial per thread (4 MiB each), plus 128x128 tiles.
  const size_t t_squared_bytes = static_cast<size_t>(T * T) * sizeof(float);
  EXPECT_LT(growth, t_squared_bytes / 32) << "peak RSS grew by " << growth << " bytes";
  // Constant q and k make every visible key equally likely: out = v, and key 0
  // (seen by every row i with weight 1/(i+1), by both heads) gets dv = 2 * H_T.
  EXPECT_NEAR(out[123], 0.5f, 1e-5);
  double harmonic = 0.0;
  for (int64_t i = 1; i <= T; ++i) harmonic += 1.0 / static_cast<double>(i);
  EXPECT_NEAR(dv[0], 2.0 * harmonic, 2.0 * harmonic * 1e-4);
}

TEST(Attention, RejectsBadShapes) {
  std::vector<float> buf(4096, 0.0f);
  float* p = buf.data();
  auto fwd = [&](AttentionShape s) { attention_forward(p, p, p, p, p, s); };
  AttentionShape good;
  good.T_q = 4;
  good.T_kv = 4;
  good.n_heads = 4;
  good.n_kv_heads = 2;
  good.head_dim = 8;
  EXPECT_NO_THROW(fwd(good));
  AttentionShape s = good;
  s.n_kv_heads = 3;
  EXPECT_THROW(fwd(s), Error);
  s = good;
  s.T_q = 5;
  EXPECT_THROW(fwd(s), Error);
  s = good;
  s.kv_batch_stride = 10;
  EXPECT_THROW(fwd(s), Error);
  s = good;
  s.head_dim = 0;
  EXPECT_THROW(fwd(s), Error);
  EXPECT_THROW(attention_forward(nullptr, p, p, p, p, good), Error);
  EXPECT_THROW(attention_backward(p, p, p, p, p, nullptr, p, p, p, good), Error);
  EXPECT_THROW(ref::attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, good), Error);
}

}  // namespace
}  // namespace longctx::kernels
