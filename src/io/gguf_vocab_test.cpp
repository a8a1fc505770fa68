#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/gguf_vocab.h"
#include "io/tokenizer_vectors_fixture.h"

namespace longctx::io {
namespace {

const std::string kData = LONGCTX_SHARED_DATA;

using test_fixtures::read_tokenizer_vectors;
using test_fixtures::TokenizerVector;

void expect_conformance(const Tokenizer& tok, const std::vector<TokenizerVector>& vectors) {
  for (const TokenizerVector& v : vectors) EXPECT_EQ(tok.encode(v.text), v.ids) << "text: '" << v.text << "'";
}

TEST(GgufVocab, ConformanceVectorsWithGgufVocabAndSentencePieceModel) {
  const std::string base = kData + "/tokenizer-tests/ggml-vocab-llama-spm.gguf";
  if (!std::filesystem::exists(base)) GTEST_SKIP() << "no ../shared/data";
  const std::vector<TokenizerVector> vectors = read_tokenizer_vectors(base);
  ASSERT_GT(vectors.size(), 20u);
  const GgufFile g = GgufFile::open(base);
  const Tokenizer from_gguf = tokenizer_from_gguf(g);
  EXPECT_EQ(from_gguf.vocab_size(), 32000);
  EXPECT_EQ(from_gguf.bos_id(), 1);
  EXPECT_EQ(from_gguf.eos_id(), 2);
  expect_conformance(from_gguf, vectors);
  const Tokenizer sp = Tokenizer::from_file(kData + "/models/llama2-tokenizer.model");
  expect_conformance(sp, vectors);
  for (const TokenizerVector& v : vectors) EXPECT_EQ(from_gguf.decode(v.ids), sp.decode(v.ids));
}

TEST(GgufVocab, StoriesVocabularyMatchesItsSentencePieceModel) {
  const std::string path = kData + "/models/stories260K-f32.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no ../shared/data";
  const Tokenizer a = tokenizer_from_gguf(GgufFile::open(path));
  const Tokenizer b = Tokenizer::from_file(kData + "/models/stories260K-tok512.model");
  ASSERT_EQ(a.vocab_size(), b.vocab_size());
  for (int32_t i = 0; i < a.vocab_size(); ++i) {
    ASSERT_EQ(a.piece(i), b.piece(i));
    ASSERT_EQ(a.score(i), b.score(i));
  }
  const std::string text = "Once upon a time, there was a little girl named Lily. 123 \xc3\xa9!";
  EXPECT_EQ(a.encode(text, true), b.encode(text, true));
}

TEST(GgufVocab, TokenizerToGgufAndBackIsIdentical) {
  const std::string path = kData + "/models/llama2-tokenizer.model";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no ../shared/data";
  const Tokenizer sp = Tokenizer::from_file(path);
  GgufMetadata md;
  append_vocab_metadata(sp, md);
  const std::string bytes = serialize_gguf(md, {});
  const GgufFile g = GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                     "mem");
  const Tokenizer back = tokenizer_from_gguf(g);
  const SpModel a = parse_sp_model(sp.serialized_proto(), "a");
  const SpModel b = parse_sp_model(back.serialized_proto(), "b");
  ASSERT_EQ(a.pieces.size(), b.pieces.size());
  for (size_t i = 0; i < a.pieces.size(); ++i) {
    ASSERT_EQ(a.pieces[i].piece, b.pieces[i].piece);
    ASSERT_EQ(a.pieces[i].score, b.pieces[i].score);
    ASSERT_EQ(a.pieces[i].type, b.pieces[i].type);
  }
  EXPECT_EQ(a.add_dummy_prefix, b.add_dummy_prefix);
  EXPECT_EQ(a.byte_fallback, b.byte_fallback);
}

TEST(GgufVocab, RejectsNonSentencePieceVocabulary) {
  GgufMetadata md = {{"tokenizer.ggml.model", GgufValue::string("gpt2")},
                     {"tokenizer.ggml.tokens", GgufValue::array_string({"a"})}};
  const std::string bytes = serialize_gguf(md, {});
  const GgufFile g = GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                     "x.gguf");
  try {
    tokenizer_from_gguf(g);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("x.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace longctx::io
