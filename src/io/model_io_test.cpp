#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/threads.h"
#include "io/gguf.h"
#include "io/model_io.h"
#include "io/safetensors.h"
#include "io/stories_fixture.h"
#include "model/inference.h"
#include "model/sampling.h"
#include "rope/rope_spec.h"

namespace longctx::io {
namespace {

namespace fs = std::filesystem;
using longctx::test_fixtures::kData;
using longctx::test_fixtures::kStories;
using longctx::test_fixtures::kStoriesText;

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("longctx_io_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::vector<float> logits_of(const model::LlamaModel& m, const std::vector<int32_t>& tokens) {
  model::KVCache cache(m.config, static_cast<int64_t>(tokens.size()));
  std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
  model::forward_tokens(m, cache, tokens.data(), static_cast<int64_t>(tokens.size()), logits.data());
  return logits;
}

std::string greedy_text(const LoadedModel& lm, size_t chars) {
  const model::LlamaModel& m = lm.model;
  model::KVCache cache(m.config, m.config.max_seq_len);
  std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
  std::vector<int32_t> out;
  int32_t tok = lm.tokenizer->bos_id();
  std::string text;
  while (text.size() < chars && cache.position() < m.config.max_seq_len) {
    model::forward_tokens(m, cache, &tok, 1, logits.data());
    tok = model::argmax(logits.data(), m.config.vocab_size);
    out.push_back(tok);
    text = lm.tokenizer->decode(out);
  }
  return text;
}

model::LlamaModel random_model(const std::string& rope_text) {
  model::ModelConfig c = model::preset_config("test");  // GQA: 4 heads, 2 kv heads
  c.rope = rope::parse_rope_spec(rope_text);
  model::LlamaModel m(c);
  model::init_weights(m, 7);
  // Norm weights away from 1 so a mix-up would show.
  m.params.for_each([](const model::ParamEntry& e, float* p) {
    if (e.shape.ndim == 1)
      for (int64_t i = 0; i < e.shape.numel(); ++i) p[i] = 1.0f + 0.01f * static_cast<float>(i % 7);
  });
  return m;
}

bool same_params(const model::ParameterSet& a, const model::ParameterSet& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// The models here are tiny: one thread avoids OpenMP spinning on a busy machine.
class ModelIoEnv : public ::testing::Environment {
  void SetUp() override { set_num_threads(1); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("longctx_io_test_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ModelIoEnv);

TEST(ModelIo, NameMappingBothWays) {
  EXPECT_EQ(gguf_name_from_hf("model.layers.12.self_attn.k_proj.weight"), "blk.12.attn_k.weight");
  EXPECT_EQ(gguf_name_from_hf("model.layers.0.post_attention_layernorm.weight"), "blk.0.ffn_norm.weight");
  EXPECT_EQ(gguf_name_from_hf("lm_head.weight"), "output.weight");
  EXPECT_EQ(hf_name_from_gguf("blk.3.ffn_down.weight"), "model.layers.3.mlp.down_proj.weight");
  EXPECT_EQ(hf_name_from_gguf("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_THROW(gguf_name_from_hf("model.layers.0.self_attn.rotary_emb.inv_freq"), Error);
  EXPECT_THROW(hf_name_from_gguf("blk.0.attn_qkv.weight"), Error);
}

TEST(ModelIo, PermutationMatchesHuggingFaceConversion) {
  // transformers' convert_llama_weights_to_hf permute: w.view(H, D/2, 2, C).transpose(1, 2):
  // half-split row (h, p, i) = interleaved row (h, i, p).
  const int64_t H = 2, D = 6, C = 3;
  std::vector<float> meta(H * D * C), hf(H * D * C), back(H * D * C);
  for (size_t i = 0; i < meta.size(); ++i) meta[i] = static_cast<float>(i);
  interleaved_to_half_split(hf.data(), meta.data(), H, D, D, C);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t i = 0; i < D / 2; ++i)
        for (int64_t c = 0; c < C; ++c)
          EXPECT_EQ(hf[((h * 2 + p) * (D / 2) + i) * C + c], meta[((h * (D / 2) + i) * 2 + p) * C + c]);
  half_split_to_interleaved(back.data(), hf.data(), H, D, D, C);
  EXPECT_EQ(back, meta);
}

TEST(ModelIo, Stories260KGreedyFromGgufAndAfterConversions) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "no ../shared/data";
  const LoadedModel g = load_gguf_model(kStories);
  ASSERT_TRUE(g.tokenizer.has_value());
  EXPECT_EQ(g.model.config.n_kv_heads, 4);
  const std::string text = greedy_text(g, kStoriesText.size());
  EXPECT_EQ(text.substr(0, kStoriesText.size()), kStoriesText);

  const fs::path dir = temp_dir("stories");
  save_hf_model(g.model, &*g.tokenizer, (dir / "hf").string());
  const LoadedModel h = load_hf_model((dir / "hf").string());
  EXPECT_TRUE(same_params(g.model.params, h.model.params));
  save_gguf_model(h.model, &*h.tokenizer, (dir / "back.gguf").string());
  const LoadedModel b = load_gguf_model((dir / "back.gguf").string());
  EXPECT_TRUE(same_params(g.model.params, b.model.params));
  EXPECT_EQ(greedy_text(b, kStoriesText.size()).substr(0, kStoriesText.size()), kStoriesText);
  const std::vector<int32_t> prompt = g.tokenizer->encode("Once upon a time", true);
  EXPECT_EQ(logits_of(g.model, prompt), logits_of(h.model, prompt));
  // The HF folder stores q/k half-split: the raw tensor differs from the GGUF one.
  const SafetensorsSet st = SafetensorsSet::open((dir / "hf").string());
  const auto* q = st.find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_NE(std::memcmp(q->data, g.model.params.ptr("model.layers.0.self_attn.q_proj.weight"),
                        q->end - q->begin), 0);
}

TEST(ModelIo, F16GgufRewritesBitExact) {
  const std::string path = kData + "/models/llama-2-tiny-random-f16.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << "no ../shared/data";
  const LoadedModel lm = load_gguf_model(path);
  ASSERT_TRUE(lm.tokenizer.has_value());
  EXPECT_EQ(lm.tokenizer->vocab_size(), 32000);
  EXPECT_EQ(lm.model.config.vocab_size, 32000);
  const fs::path dir = temp_dir("f16");
  save_gguf_model(lm.model, &*lm.tokenizer, (dir / "again.gguf").string(), DType::kF16);
  const GgufFile a = GgufFile::open(path), b = GgufFile::open((dir / "again.gguf").string());
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const GgufTensorInfo& t : a.tensors()) {
    const GgufTensorInfo* u = b.find_tensor(t.name);
    ASSERT_NE(u, nullptr) << t.name;
    EXPECT_EQ(u->type, t.type) << t.name;
    ASSERT_EQ(u->nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0) << t.name;  // f16 -> f32 -> f16 exact
  }
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"})
    EXPECT_TRUE(*a.find(key) == *b.find(key)) << key;
  const std::vector<int32_t> toks = lm.tokenizer->encode("Hello world", true);
  EXPECT_EQ(toks, (std::vector<int32_t>{1, 15043, 3186}));
  const std::vector<float> logits = logits_of(lm.model, toks);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
}

TEST(ModelIo, GqaModelIdenticalLogitsWhicheverWayLoaded) {
  for (const std::string rope_text : {"default", "abf:base=500000"}) {
    const model::LlamaModel m = random_model(rope_text);
    const fs::path dir = temp_dir("gqa");
    save_hf_model(m, nullptr, (dir / "hf").string());
    save_gguf_model(m, nullptr, (dir / "m.gguf").string());
    const LoadedModel h = load_model((dir / "hf").string());
    const LoadedModel g = load_model((dir / "m.gguf").string());
    EXPECT_TRUE(same_params(m.params, h.model.params)) << rope_text;
    EXPECT_TRUE(same_params(m.params, g.model.params)) << rope_text;
    EXPECT_EQ(rope::format_rope_spec(g.model.config.rope), rope::format_rope_spec(m.config.rope));
    EXPECT_EQ(rope::format_rope_spec(h.model.config.rope), rope::format_rope_spec(m.config.rope));
    const std::vector<int32_t> toks = {1, 5, 9, 3, 60, 2};
    EXPECT_EQ(logits_of(h.model, toks), logits_of(g.model, toks));
    EXPECT_EQ(logits_of(m, toks), logits_of(g.model, toks));
  }
}

TEST(ModelIo, AbfCarriesFreqBaseIntoGguf) {
  const model::LlamaModel m = random_model("abf:base=500000");
  const fs::path dir = temp_dir("abf");
  save_gguf_model(m, nullptr, (dir / "m.gguf").string());
  const GgufFile g = GgufFile::open((dir / "m.gguf").string());
  EXPECT_EQ(g.get_float("llama.rope.freq_base"), 500000.0);
  save_hf_model(m, nullptr, (dir / "hf").string());
  std::ifstream in(dir / "hf" / "config.json");
  const nlohmann::json cfg = nlohmann::json::parse(in);
  EXPECT_EQ(cfg["rope_theta"].get<double>(), 500000.0);
  EXPECT_EQ(cfg["architectures"][0], "LlamaForCausalLM");
}

TEST(ModelIo, HalfPrecisionSavesAgreeAcrossFormats) {
  const model::LlamaModel m = random_model("default");
  const fs::path dir = temp_dir("half");
  for (DType dt : {DType::kF16, DType::kBF16}) {
    save_hf_model(m, nullptr, (dir / "hf").string(), dt);
    save_gguf_model(m, nullptr, (dir / "m.gguf").string(), dt);
    const LoadedModel h = load_model((dir / "hf").string());
    const LoadedModel g = load_model((dir / "m.gguf").string());
    // GGUF keeps norms in f32, HF narrows them too; compare matrices only.
    size_t n_matrices = 0;
    h.model.params.for_each([&](const model::ParamEntry& e, const float* p) {
      if (e.shape.ndim < 2) return;
      ++n_matrices;
      EXPECT_EQ(std::memcmp(p, g.model.params.ptr(e.name), e.shape.numel() * 4), 0) << e.name;
      const float* orig = m.params.ptr(e.name);
      const float tol = dt == DType::kF16 ? 1.0f / 1024 : 1.0f / 128;  // relative rounding
      for (int64_t i = 0; i < e.shape.numel(); ++i)
        ASSERT_NEAR(p[i], orig[i], std::fabs(orig[i]) * tol + 1e-7f) << e.name;
    });
    EXPECT_GT(n_matrices, 5u);
  }
}

std::string load_error(const std::string& path) {
  try {
    load_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelIo, BadFoldersGiveNamedErrors) {
  const model::LlamaModel m = random_model("default");
  const fs::path dir = temp_dir("bad");
  const std::string hf = (dir / "hf").string();
  save_hf_model(m, nullptr, hf);
  std::ifstream in(dir / "hf" / "config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  in.close();
  auto write_cfg = [&](const nlohmann::json& j) {
    std::ofstream(dir / "hf" / "config.json") << j.dump();
  };
  nlohmann::json other = cfg;
  other["model_type"] = "gpt2";
  other["architectures"] = {"GPT2LMHeadModel"};
  write_cfg(other);
  EXPECT_NE(load_error(hf).find("not a LLaMA model"), std::string::npos) << load_error(hf);
  nlohmann::json wrong = cfg;
  wrong["hidden_size"] = 64;  // shapes no longer match the tensors
  write_cfg(wrong);
  EXPECT_NE(load_error(hf).find("shape"), std::string::npos) << load_error(hf);
  nlohmann::json typed = cfg;
  typed["num_hidden_layers"] = "two";
  write_cfg(typed);
  EXPECT_NE(load_error(hf).find("num_hidden_layers"), std::string::npos) << load_error(hf);
  std::ofstream(dir / "hf" / "config.json") << "{ not json";
  EXPECT_NE(load_error(hf).find("invalid JSON"), std::string::npos);
  nlohmann::json fewer = cfg;
  fewer["num_hidden_layers"] = 1;  // leaves layer 1's tensors unexplained
  write_cfg(fewer);
  EXPECT_NE(load_error(hf).find("unexpected tensor"), std::string::npos) << load_error(hf);
  nlohmann::json more = cfg;
  more["num_hidden_layers"] = 3;
  write_cfg(more);
  EXPECT_NE(load_error(hf).find("missing tensor"), std::string::npos) << load_error(hf);
  EXPECT_NE(load_error((dir / "nothing").string()).find("nothing"), std::string::npos);
}

}  // namespace
}  // namespace longctx::io
