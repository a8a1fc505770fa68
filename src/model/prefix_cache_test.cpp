// KV cache storage types and copies, the prefix cache (reuse gives the same logits as a
// fresh prefill; longest common prefix; LRU under a byte cap) and the memory plan.
#include "model/prefix_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/testing.h"
#include "model/inference.h"
#include "model/memory_plan.h"
#include "model/model_test_util.h"

namespace longctx::model {
namespace {

using kernels::StorageType;
using test::kLogitTol;
using test::logit_error;
using test::random_model;

TEST(KvCache, TypesParseAndShapesAreChecked) {
  EXPECT_EQ(parse_kv_types("q8_0", "--kv-type"), (KvTypes{StorageType::kQ8_0, StorageType::kQ8_0}));
  EXPECT_EQ(parse_kv_types("k=f32,v=q8_0", "--kv-type"), (KvTypes{StorageType::kF32, StorageType::kQ8_0}));
  EXPECT_EQ(format_kv_types({StorageType::kBF16, StorageType::kQ8_0}), "k=bf16,v=q8_0");
  EXPECT_THROW(parse_kv_types("k=f32", "--kv-type"), Error);
  EXPECT_THROW(parse_kv_types("k=f32,x=bf16", "--kv-type"), Error);
  try {
    parse_kv_types("k=f32,v=f8", "--kv-type");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-type"), std::string::npos) << e.what();
  }
  // The test preset's key rows are 2 heads x 8 = 16 values: no whole Q8_0 block.
  EXPECT_THROW(KVCache(preset_config("test"), 8, {StorageType::kQ8_0, StorageType::kF32}), Error);
  const ModelConfig c = preset_config("test");
  EXPECT_EQ(KVCache(c, 10).bytes(), size_t(2 * 2 * 10 * 16 * 4));  // layers x (k, v) x rows x 16 x f32
  EXPECT_EQ(KVCache(c, 10, {StorageType::kBF16, StorageType::kF32}).bytes(), size_t(2 * 10 * 16 * (2 + 4)));
}

TEST(PrefixCache, ReuseGivesTheLogitsOfAFreshPrefill) {
  const LlamaModel model = random_model(preset_config("test"), 61);
  const InferenceWeights w = InferenceWeights::view(model);
  const int64_t V = model.config.vocab_size;
  const auto doc = testing::random_ints(30, 62, 0, static_cast<int32_t>(V - 1));
  std::vector<int32_t> q1 = doc, q2 = doc;
  for (int32_t t : {3, 4, 5}) q1.push_back(t);
  for (int32_t t : {7, 8}) q2.push_back(t);
  InferenceWorkspace ws(model.config, 16);
  PrefixCache pc(1 << 20);
  KVCache a(model.config, 64);
  std::vector<float> la(static_cast<size_t>(V)), lb(static_cast<size_t>(V));
  forward_tokens(w, a, ws, q1.data(), static_cast<int64_t>(q1.size()), la.data());
  pc.store(q1, a);
  EXPECT_EQ(pc.entries(), 1u);
  // q2 shares the 30 document tokens with the entry (not the whole entry).
  KVCache b(model.config, 64);
  EXPECT_EQ(pc.match(q2, 31), 30);
  EXPECT_EQ(pc.restore(q2, b, static_cast<int64_t>(q2.size()) - 1), 30);
  EXPECT_EQ(b.position(), 30);
  forward_tokens(w, b, ws, q2.data() + 30, 2, lb.data());
  KVCache fresh(model.config, 64);
  forward_tokens(w, fresh, ws, q2.data(), static_cast<int64_t>(q2.size()), la.data());
  EXPECT_LT(logit_error(lb.data(), la.data(), V), kLogitTol);
  EXPECT_EQ(pc.hits(), 1);
  EXPECT_EQ(pc.reused_tokens(), 30);
  // max_tokens caps the reuse (the last prompt token must run).
  KVCache c(model.config, 64);
  EXPECT_EQ(pc.restore(doc, c, 29), 29);
  // No common prefix: nothing restored, cache untouched.
  const std::vector<int32_t> other = {9, 9, 9};
  EXPECT_EQ(pc.restore(other, c, 2), 0);
  EXPECT_EQ(c.position(), 29);
}

TEST(PrefixCache, LeastRecentlyUsedEvictionUnderTheCap) {
  const LlamaModel model = random_model(preset_config("test"), 63);
  const InferenceWeights w = InferenceWeights::view(model);
  InferenceWorkspace ws(model.config, 16);
  const size_t per = kv_cache_bytes(model.config, 20, {});
  PrefixCache pc(2 * per + per / 2);  // room for two 20-token entries
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < 3; ++i) {
    seqs.push_back(std::vector<int32_t>(20, i + 1));
    KVCache c(model.config, 20);
    forward_tokens(w, c, ws, seqs.back().data(), 20, nullptr);
    pc.store(seqs.back(), c);
    if (i == 1) {  // touch entry 0 so that entry 1 is the least recently used
      KVCache t(model.config, 20);
      EXPECT_EQ(pc.restore(seqs[0], t, 19), 19);
    }
  }
  EXPECT_EQ(pc.entries(), 2u);
  EXPECT_LE(pc.bytes(), pc.max_bytes());
  EXPECT_EQ(pc.evictions(), 1);
  EXPECT_EQ(pc.match(seqs[1], 20), 0) << "entry 1 was evicted";
  EXPECT_EQ(pc.match(seqs[0], 20), 20);
  EXPECT_EQ(pc.match(seqs[2], 20), 20);
  // An entry that extends another replaces it; one larger than the cap is not stored.
  std::vector<int32_t> longer = seqs[2];
  longer.push_back(5);
  KVCache c(model.config, 21);
  forward_tokens(w, c, ws, longer.data(), 21, nullptr);
  pc.store(longer, c);
  EXPECT_EQ(pc.entries(), 2u);
  PrefixCache tiny(per / 2);
  tiny.store(seqs[0], c);
  EXPECT_EQ(tiny.entries(), 0u);
  PrefixCache off(0);
  off.store(seqs[0], c);
  EXPECT_EQ(off.entries(), 0u);
}

TEST(MemoryPlan, CountsWhatIsAllocatedAndRefusesWithTheNumbers) {
  MemoryPlanRequest r;
  r.config = preset_config("tiny");
  r.weight_bytes = 20'000'000;
  r.context = 32768;
  r.sequences = 2;
  r.kv_types = {StorageType::kF32, StorageType::kQ8_0};
  r.chunk_rows = 512;
  const MemoryPlan p = plan_memory(r, 1'000'000'000);
  EXPECT_EQ(p.kv_cache, 2 * KVCache(r.config, 32768, r.kv_types).bytes());
  EXPECT_GE(p.scratch, InferenceWorkspace::bytes_for(r.config, 512));
  EXPECT_EQ(p.total, p.weights + p.kv_cache + p.prefix_cache + p.scratch);
  EXPECT_TRUE(p.fits());
  const MemoryPlan tight = plan_memory(r, p.total - 1);
  EXPECT_FALSE(tight.fits());
  try {
    check_memory_plan(tight);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--ctx 32768"), std::string::npos) << m;
    EXPECT_NE(m.find(format_bytes(p.kv_cache)), std::string::npos) << m;
    EXPECT_NE(m.find("available"), std::string::npos) << m;
  }
  EXPECT_GT(available_memory_bytes(), size_t(0));
  EXPECT_EQ(format_bytes(476'000'000), "476.0 MB");
  EXPECT_EQ(format_bytes(1'500'000'000), "1.50 GB");
}

}  // namespace
}  // namespace longctx::model
