// Every writer refuses an inconsistent model before writing anything (GGUF, Hugging Face
// folder, checkpoint), and the readers apply the same rules to what they load.
#include "io/model_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "core/error.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "io/tiny_tokenizer_fixture.h"
#include "rope/rope_spec.h"

namespace longctx::io {
namespace {

namespace fs = std::filesystem;
using test_fixtures::tiny_tokenizer;

fs::path temp_root() {
  return fs::temp_directory_path() / ("longctx_model_check_test_" + std::to_string(::getpid()));
}

class ModelCheckEnv : public ::testing::Environment {
  void SetUp() override { set_num_threads(1); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(temp_root(), ec);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ModelCheckEnv);

// A folder that holds nothing yet; the writers' targets go inside it.
fs::path empty_dir(const std::string& name) {
  const fs::path p = temp_root() / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

model::LlamaModel test_model() {
  model::LlamaModel m(model::preset_config("test"));  // vocab 64
  model::init_weights(m, 3);
  return m;
}

// Calls `save`, expects an Error whose message holds every one of `needles`, and expects the
// folder to be as empty as before.
void expect_refused(const std::function<void()>& save, const fs::path& dir,
                    std::initializer_list<const char*> needles) {
  try {
    save();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const char* n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
  }
  EXPECT_TRUE(fs::is_empty(dir)) << dir << " has files after a refused save";
}

// All three writers on one model; nothing may appear under `dir`.
void expect_all_writers_refuse(const model::LlamaModel& m, const Tokenizer* tok,
                               const std::string& name,
                               std::initializer_list<const char*> needles) {
  const fs::path dir = empty_dir(name);
  expect_refused([&] { save_gguf_model(m, tok, (dir / "m.gguf").string()); }, dir, needles);
  expect_refused([&] { save_hf_model(m, tok, (dir / "hf").string(), DType::kBF16); }, dir, needles);
  CheckpointSave s;
  s.model = &m;
  s.tokenizer = tok;
  s.step = 5;
  expect_refused([&] { save_checkpoint((dir / "run").string(), s); }, dir, needles);
}

TEST(ModelCheck, ConsistentModelsSaveWithSmallerOrEqualTokenizers) {
  const model::LlamaModel m = test_model();
  const Tokenizer equal = tiny_tokenizer(64), smaller = tiny_tokenizer(40);
  const fs::path dir = empty_dir("ok");
  EXPECT_NO_THROW(check_model(m, &equal, "check"));
  EXPECT_NO_THROW(check_model(m, nullptr, "check"));
  save_gguf_model(m, &equal, (dir / "m.gguf").string());
  save_hf_model(m, &smaller, (dir / "hf").string());
  EXPECT_EQ(load_model((dir / "m.gguf").string()).tokenizer->vocab_size(), 64);
  EXPECT_EQ(load_model((dir / "hf").string()).tokenizer->vocab_size(), 40);
}

TEST(ModelCheck, TokenizerLargerThanTheEmbeddingIsRefused) {
  const Tokenizer big = tiny_tokenizer(100);
  expect_all_writers_refuse(test_model(), &big, "big-tokenizer",
                            {"tiny-100.model", "100 pieces", "only 64 rows"});
}

TEST(ModelCheck, TensorsThatDisagreeWithTheConfigAreRefused) {
  // The config says 80 rows, the tensors were made for 64.
  model::ModelConfig more_vocab = model::preset_config("test");
  more_vocab.vocab_size = 80;
  const model::LlamaModel wrong_rows(more_vocab, model::ParameterSet(model::preset_config("test")));
  expect_all_writers_refuse(wrong_rows, nullptr, "rows",
                            {"model.embed_tokens.weight", "(64, 32)", "(80, 32)"});
  // The config ties the output head to the embedding, the tensors have their own lm_head.
  model::ModelConfig tied = model::preset_config("test");
  tied.tied_embeddings = true;
  const model::LlamaModel extra_head(tied, model::ParameterSet(model::preset_config("test")));
  expect_all_writers_refuse(extra_head, nullptr, "tied", {"lm_head.weight", "not part of"});
  // Fewer layers in the tensors than in the config.
  model::ModelConfig three = model::preset_config("test");
  three.n_layers = 3;
  const model::LlamaModel missing(three, model::ParameterSet(model::preset_config("test")));
  expect_all_writers_refuse(missing, nullptr, "layers", {"model.layers.2."});
}

TEST(ModelCheck, InvalidConfigsAreRefused) {
  model::LlamaModel kv = test_model();
  kv.config.n_kv_heads = 3;  // does not divide 4 heads
  expect_all_writers_refuse(kv, nullptr, "kv", {"n_kv_heads"});
  model::LlamaModel eps = test_model();
  eps.config.norm_eps = 0.0f;
  expect_all_writers_refuse(eps, nullptr, "eps", {"norm_eps"});
  model::LlamaModel rope = test_model();
  rope.config.rope = rope::parse_rope_spec("yarn:factor=4,original=64");
  rope.config.rope.params["factor"] = -2.0;  // what parse_rope_spec would have refused
  expect_all_writers_refuse(rope, nullptr, "rope", {"factor"});
}

TEST(ModelCheck, FormatSpecificRefusalsAlsoWriteNothing) {
  model::LlamaModel xpos = test_model();
  xpos.config.rope = rope::parse_rope_spec("xpos");
  const fs::path dir = empty_dir("format");
  expect_refused([&] { save_gguf_model(xpos, nullptr, (dir / "x.gguf").string()); }, dir,
                 {"x.gguf", "xpos"});
  expect_refused([&] { save_hf_model(xpos, nullptr, (dir / "x").string()); }, dir, {"xpos"});
  const model::LlamaModel m = test_model();
  expect_refused([&] { save_gguf_model(m, nullptr, (dir / "q.gguf").string(), DType::kI32); }, dir,
                 {"q.gguf", "i32"});
  expect_refused([&] { save_hf_model(m, nullptr, (dir / "hf").string(), DType::kI32); }, dir,
                 {"hf", "i32"});
}

TEST(ModelCheck, CheckpointWithOptimizerStateOfAnotherModelIsRefused) {
  const model::LlamaModel m = test_model();
  model::ModelConfig other = model::preset_config("test");
  other.ffn_dim = 64;
  const model::ParameterSet adam_m(other), adam_v(other);
  const fs::path dir = empty_dir("optimizer");
  CheckpointSave s;
  s.model = &m;
  s.adam_m = &adam_m;
  s.adam_v = &adam_v;
  expect_refused([&] { save_checkpoint((dir / "run").string(), s); }, dir, {"optimizer state"});
}

TEST(ModelCheck, ReadersApplyTheSameRules) {
  // A folder that a writer would have refused, put together by hand: the reader refuses it
  // with the same message.
  const fs::path dir = empty_dir("reader");
  save_hf_model(test_model(), nullptr, (dir / "hf").string());
  const Tokenizer big = tiny_tokenizer(100);
  const std::string proto = big.serialized_proto();
  write_file_atomic((dir / "hf" / "tokenizer.model").string(), proto.data(), proto.size());
  try {
    load_model((dir / "hf").string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("100 pieces but the embedding only 64 rows"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace longctx::io
