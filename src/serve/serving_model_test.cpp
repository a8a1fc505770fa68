// Opening models for inference (in place from GGUF, converted, quantised files), sessions
// with prefix reuse, and saved KV states with their fingerprint.
#include "serve/serving_model.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/gguf.h"
#include "io/stories_fixture.h"
#include "kernels/testing.h"
#include "serve/engine.h"
#include "serve/gguf_quantize.h"
#include "serve/kv_state_file.h"
#include "serve/serve_test_util.h"

namespace longctx::serve {
namespace {

using kernels::StorageType;
using test_fixtures::kStories;
using test_fixtures::kStoriesText;
namespace fs = std::filesystem;

model::DecodeOptions greedy(const io::Tokenizer& tok, int64_t n) {
  model::DecodeOptions d;
  d.sampling.temperature = 0;
  d.max_new_tokens = n;
  d.stop_tokens = {tok.eos_id()};
  d.detokenize = [&tok](std::span<const int32_t> ids) { return tok.decode({ids.begin(), ids.end()}); };
  return d;
}

TEST(ServingModel, Stories260KInPlaceReproducesItsGreedyStory) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  for (const std::string weights : {"", "bf16"}) {
    SCOPED_TRACE(weights);
    const auto m = open_serving_model({kStories, "", weights, ""});
    Engine engine(*m, {});
    Session s(engine);
    const std::vector<int32_t> bos = {m->tokenizer->bos_id()};
    const SessionResult r = s.generate(bos, greedy(*m->tokenizer, 40));
    if (weights.empty()) {
      EXPECT_TRUE(m->mapped);
      EXPECT_EQ(r.decode.text.substr(0, kStoriesText.size()), kStoriesText);
    } else {
      EXPECT_FALSE(m->mapped);
      EXPECT_EQ(m->weights.type_summary(), "bf16");
      EXPECT_GT(r.decode.tokens.size(), 10u);  // bf16 rounding may change the story, not break it
    }
  }
  const auto m = open_serving_model({kStories, "", "", ""});
  EXPECT_TRUE(m->mapped);
  EXPECT_EQ(m->weights.type_summary(), "f32");
  EXPECT_EQ(m->trained_context, 512);
  EXPECT_EQ(m->name, "stories260K-f32");
  // Q8_0 needs rows that are whole blocks: stories260K's feed-forward width is 172, so the
  // down projections (rows of 172) stay f32 and everything else becomes Q8_0.
  const std::string q8 = (test::temp_dir("q") / "s.gguf").string();
  const QuantizeSummary s = quantize_gguf(kStories, q8, StorageType::kQ8_0);
  EXPECT_EQ(s.kept.size(), 5u);
  EXPECT_EQ(s.kept.at(0), "blk.0.ffn_down.weight");
  EXPECT_EQ(io::GgufFile::open(q8).find_tensor("blk.0.ffn_down.weight")->type, io::GgmlType::kF32);
  EXPECT_EQ(io::GgufFile::open(q8).find_tensor("blk.0.ffn_up.weight")->type, io::GgmlType::kQ8_0);
  const auto mixed = open_serving_model({q8, "", "", ""});
  EXPECT_TRUE(mixed->mapped);
  EXPECT_EQ(mixed->weights.type_summary().rfind("mixed (f32 x", 0), 0u) << mixed->weights.type_summary();
  Engine engine(*mixed, {});
  Session session(engine);
  const SessionResult r = session.generate(std::vector<int32_t>{mixed->tokenizer->bos_id()}, greedy(*mixed->tokenizer, 12));
  EXPECT_EQ(r.decode.tokens.size(), 12u);
}

// A file written by `longctx quantize` holds ggml's Q8_0 blocks, is used in place, and gives
// exactly the logits of the same conversion done in memory.
TEST(ServingModel, QuantizedGgufIsUsedInPlace) {
  const fs::path dir = test::temp_dir("quantize");
  const std::string f32 = (dir / "m.gguf").string();
  const model::LlamaModel ref = test::save_random_gguf(f32, 71);
  const auto tokens = testing::random_ints(20, 72, 0, 95);
  for (StorageType t : {StorageType::kQ8_0, StorageType::kBF16}) {
    SCOPED_TRACE(kernels::storage_type_name(t));
    const std::string out = (dir / (std::string(kernels::storage_type_name(t)) + ".gguf")).string();
    quantize_gguf(f32, out, t);
    const auto m = open_serving_model({out, "", "", ""});
    EXPECT_TRUE(m->mapped);
    EXPECT_EQ(m->weights.type_summary(), kernels::storage_type_name(t));
    const io::GgufFile g = io::GgufFile::open(out);
    EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, t == StorageType::kQ8_0 ? io::GgmlType::kQ8_0 : io::GgmlType::kBF16);
    EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->type, io::GgmlType::kF32);
    const model::InferenceWeights mem = model::InferenceWeights::view(ref).converted(t);
    std::vector<float> a(96), b(96);
    model::InferenceWorkspace ws(ref.config, 8);
    model::KVCache ca(ref.config, 32), cb(ref.config, 32);
    model::forward_tokens(m->weights, ca, ws, tokens.data(), 20, a.data());
    model::forward_tokens(mem, cb, ws, tokens.data(), 20, b.data());
    EXPECT_EQ(a, b);
  }
  EXPECT_NE(open_serving_model({f32, "", "", ""})->checksum(), open_serving_model({(dir / "q8_0.gguf").string(), "", "", ""})->checksum());
  EXPECT_EQ(open_serving_model({f32, "", "", ""})->checksum(), open_serving_model({f32, "", "", ""})->checksum());
}

TEST(Session, ReusesItsOwnPrefixAndThePrefixCache) {
  const fs::path dir = test::temp_dir("session");
  const std::string path = (dir / "m.gguf").string();
  test::save_random_gguf(path, 73);
  const auto m = open_serving_model({path, "", "", ""});
  EngineOptions eo;
  eo.prefix_cache_bytes = 1 << 20;
  Engine engine(*m, eo);
  const auto doc = testing::random_ints(40, 74, 3, 95);
  std::vector<int32_t> q1 = doc, q2 = doc;
  q1.push_back(5);
  q2.push_back(6);
  const model::DecodeOptions d = greedy(*m->tokenizer, 5);
  Session a(engine), b(engine), fresh(engine);
  const SessionResult r1 = a.generate(q1, d, {}, /*store_prefix=*/true);
  EXPECT_EQ(r1.cached_tokens, 0);
  const SessionResult r2 = a.generate(q2, d);  // own cache: the 40 document tokens
  EXPECT_EQ(r2.cached_tokens, 40);
  const SessionResult r3 = b.generate(q2, d);  // another session: from the prefix cache
  EXPECT_EQ(r3.cached_tokens, 40);
  EXPECT_EQ(r3.decode.tokens, fresh.generate(q2, d).decode.tokens);
  EXPECT_EQ(r2.decode.tokens, r3.decode.tokens);
}

TEST(KvState, SaveLoadAndFingerprintRefusals) {
  const fs::path dir = test::temp_dir("kvstate");
  const std::string path = (dir / "m.gguf").string(), other = (dir / "other.gguf").string();
  test::save_random_gguf(path, 75);
  test::save_random_gguf(other, 76);
  const auto m = open_serving_model({path, "", "", ""});
  Engine engine(*m, {});
  const auto prompt = testing::random_ints(30, 77, 3, 95);
  const model::DecodeOptions d = greedy(*m->tokenizer, 8);
  Session a(engine);
  std::vector<int32_t> first(prompt.begin(), prompt.begin() + 20);
  model::DecodeOptions prefill_only;
  prefill_only.max_new_tokens = 0;
  a.generate(first, prefill_only);
  const std::string state = (dir / "s.kv").string();
  a.save_state(state);
  Session b(engine);
  b.load_state(state);
  EXPECT_EQ(b.tokens(), a.tokens());
  const SessionResult loaded = b.generate(prompt, d);
  EXPECT_EQ(loaded.cached_tokens, static_cast<int64_t>(a.tokens().size()));
  Session c(engine);
  EXPECT_EQ(loaded.decode.tokens, c.generate(prompt, d).decode.tokens);

  auto refused = [&](const ServingModel& mm, EngineOptions eo, const std::string& field) {
    Engine e(mm, eo);
    Session s(e);
    try {
      s.load_state(state);
      ADD_FAILURE() << "loaded into a different " << field;
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(field), std::string::npos) << err.what();
    }
  };
  refused(*open_serving_model({other, "", "", ""}), {}, "model_checksum");
  refused(*open_serving_model({path, "", "", "abf:base=500000"}), {}, "rope");
  EngineOptions q8;
  q8.kv_types = {StorageType::kF32, StorageType::kQ8_0};
  refused(*m, q8, "kv_types");
  // A truncated file is refused, not read past its end.
  {
    std::ifstream in(state, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(state, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 7));
  }
  Session t(engine);
  EXPECT_THROW(t.load_state(state), Error);
}

TEST(Engine, RefusesAContextThatDoesNotFitAndWarnsPastTheTrainedOne) {
  const fs::path dir = test::temp_dir("engine");
  const std::string path = (dir / "m.gguf").string();
  test::save_random_gguf(path, 78);
  const auto m = open_serving_model({path, "", "", ""});
  EngineOptions eo;
  eo.context = 1 << 20;
  eo.memory_limit = 100'000'000;  // the 1M-token cache alone needs ~1 GB
  try {
    Engine e(*m, eo);
    FAIL() << "no refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ctx 1048576"), std::string::npos) << e.what();
  }
  eo.context = 1000;
  eo.memory_limit = 0;
  Engine e(*m, eo);
  EXPECT_NE(e.context_warning().find("exceeds the model's trained context of 128"), std::string::npos);
  Session s(e);  // and it runs past it
  const auto long_prompt = testing::random_ints(600, 79, 3, 95);
  EXPECT_EQ(s.generate(long_prompt, greedy(*m->tokenizer, 3)).decode.prompt_tokens, 600);
}

}  // namespace
}  // namespace longctx::serve
