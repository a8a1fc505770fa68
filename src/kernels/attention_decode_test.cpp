#include "kernels/attention_decode.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "kernels/attention_reference.h"
#include "kernels/simd_testing.h"
#include "kernels/storage_test_util.h"
#include "kernels/testing.h"

namespace longctx::kernels {
namespace {

class AttentionDecodeSimd : public PerSimdTarget {};
LONGCTX_INSTANTIATE_PER_SIMD_TARGET(AttentionDecodeSimd);

struct Seq {
  int64_t T_q, T_kv;
};

// Several sequences in one call against the double reference attention
// (kernels/attention_reference.h) on the decoded cache contents, so only the kernel's own
// float rounding is measured: max |out - ref| < 2e-6 (values are N(0,1), outputs convex
// combinations of them).
void check(StorageType kt, StorageType vt, int H, int Hkv, int D, const std::vector<Seq>& seqs) {
  SCOPED_TRACE(::testing::Message() << "k " << storage_type_name(kt) << " v " << storage_type_name(vt)
                                    << " H=" << H << " Hkv=" << Hkv << " D=" << D);
  const int64_t KD = int64_t(Hkv) * D;
  std::vector<std::vector<uint8_t>> ks, vs;
  std::vector<std::vector<float>> qs, outs;
  std::vector<DecodeAttentionTask> tasks;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto [T_q, T_kv] = seqs[i];
    const auto kf = testing::random_normal<float>(T_kv * KD, 10 + i);
    const auto vf = testing::random_normal<float>(T_kv * KD, 20 + i);
    ks.emplace_back(storage_row_bytes(kt, KD) * T_kv);
    vs.emplace_back(storage_row_bytes(vt, KD) * T_kv);
    quantize_rows(ks.back().data(), kt, kf.data(), T_kv, KD);
    quantize_rows(vs.back().data(), vt, vf.data(), T_kv, KD);
    qs.push_back(testing::random_normal<float>(T_q * H * D, 30 + i, 0.5));
    outs.emplace_back(static_cast<size_t>(T_q * H * D), NAN);
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    DecodeAttentionTask t;
    t.out = outs[i].data();
    t.q = qs[i].data();
    t.k = {kt, ks[i].data(), storage_row_bytes(kt, KD)};
    t.v = {vt, vs[i].data(), storage_row_bytes(vt, KD)};
    t.T_q = seqs[i].T_q;
    t.T_kv = seqs[i].T_kv;
    tasks.push_back(t);
  }
  DecodeAttentionShape shape{H, Hkv, D, 0.0f};
  attention_decode(tasks.data(), static_cast<int64_t>(tasks.size()), shape);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto [T_q, T_kv] = seqs[i];
    std::vector<double> kd, vd;
    for (int64_t t = 0; t < T_kv; ++t) {
      const auto kr = testing::decode_row_double(kt, ks[i].data() + t * storage_row_bytes(kt, KD), KD);
      const auto vr = testing::decode_row_double(vt, vs[i].data() + t * storage_row_bytes(vt, KD), KD);
      kd.insert(kd.end(), kr.begin(), kr.end());
      vd.insert(vd.end(), vr.begin(), vr.end());
    }
    const auto qd = testing::convert<double>(qs[i]);
    std::vector<double> ref(static_cast<size_t>(T_q * H * D));
    AttentionShape as;
    as.B = 1;
    as.T_q = T_q;
    as.T_kv = T_kv;
    as.n_heads = H;
    as.n_kv_heads = Hkv;
    as.head_dim = D;
    ref::attention_forward(ref.data(), nullptr, qd.data(), kd.data(), vd.data(), as);
    EXPECT_LT(testing::max_abs_diff(outs[i], ref), 2e-6) << "sequence " << i << " T_q " << T_q << " T_kv " << T_kv;
  }
}

TEST_P(AttentionDecodeSimd, MatchesDoubleReference) {
  // Short and long caches in one batch (long ones are split over threads and merged),
  // a tile boundary (32) crossed and not, several query rows (causal inside the step).
  const std::vector<Seq> seqs = {{1, 1}, {1, 31}, {1, 33}, {2, 70}, {3, 3}, {1, 1100}};
  for (StorageType kt : testing::kAllStorageTypes)
    for (StorageType vt : testing::kAllStorageTypes) check(kt, vt, 4, 2, 32, seqs);
  check(StorageType::kF32, StorageType::kF32, 8, 8, 16, {{1, 600}, {4, 9}});  // MHA, D < 32
  check(StorageType::kQ8_0, StorageType::kBF16, 8, 4, 8, {{1, 77}, {2, 40}});  // Q8_0 blocks span heads
  check(StorageType::kF32, StorageType::kF32, 6, 1, 24, {{1, 3000}});           // MQA, one long cache
  // One long step of 4 rows split along the cache (parts merged), converted tiles.
  check(StorageType::kBF16, StorageType::kQ8_0, 8, 4, 32, {{4, 1100}});
  // Head widths over several register blocks (64) and with a scalar tail (20).
  check(StorageType::kF32, StorageType::kF32, 12, 4, 64, {{1, 700}, {2, 300}});
  check(StorageType::kF32, StorageType::kBF16, 4, 2, 20, {{1, 300}, {3, 40}});
}

TEST(AttentionDecode, RejectsBadShapes) {
  float o[8], q[8];
  uint8_t kv[64] = {};
  DecodeAttentionTask t;
  t.out = o;
  t.q = q;
  t.k = {StorageType::kF32, kv, 32};
  t.v = t.k;
  t.T_q = 2;
  t.T_kv = 1;  // more query rows than keys
  EXPECT_THROW(attention_decode(&t, 1, DecodeAttentionShape{1, 1, 8, 0.0f}), Error);
  t.T_q = 1;
  EXPECT_THROW(attention_decode(&t, 1, DecodeAttentionShape{3, 2, 8, 0.0f}), Error);
}

}  // namespace
}  // namespace longctx::kernels
