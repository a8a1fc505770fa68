#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/float_formats.h"
#include "io/gguf.h"

namespace longctx::io {
namespace {

const std::string kData = LONGCTX_SHARED_DATA;

bool have_data(const std::string& rel) { return std::filesystem::exists(kData + "/" + rel); }

TEST(FloatFormats, F16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << "half bits " << h << " value " << f;
  }
}

TEST(FloatFormats, F16RoundsToNearestEven) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);            // tie -> even
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)), 1.0f + 4.0f / 2048);  // tie -> even
  EXPECT_EQ(f16_to_f32(f32_to_f16(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(65520.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(f32_to_f16(std::ldexp(1.0f, -25))), 0.0f);
  // Random values: relative error within half an ulp (2^-11).
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1000.f, 1000.f);
  for (int i = 0; i < 10000; ++i) {
    const float x = u(rng);
    EXPECT_LE(std::fabs(f16_to_f32(f32_to_f16(x)) - x), std::fabs(x) * std::ldexp(1.0f, -11));
  }
}

TEST(FloatFormats, Bf16RoundTripAndRounding) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), h);
    }
  }
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);  // tie -> even
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

GgufMetadata sample_metadata() {
  return {
      {"general.architecture", GgufValue::string("llama")},
      {"general.alignment", GgufValue::scalar_int(GgufType::kU32, 64)},
      {"a.u8", GgufValue::scalar_int(GgufType::kU8, 200)},
      {"a.i8", GgufValue::scalar_int(GgufType::kI8, -100)},
      {"a.u16", GgufValue::scalar_int(GgufType::kU16, 60000)},
      {"a.i16", GgufValue::scalar_int(GgufType::kI16, -30000)},
      {"a.i32", GgufValue::scalar_int(GgufType::kI32, -2000000000)},
      {"a.u64", GgufValue::scalar_int(GgufType::kU64, -1)},
      {"a.i64", GgufValue::scalar_int(GgufType::kI64, -5)},
      {"a.f32", GgufValue::scalar_float(GgufType::kF32, 0.25)},
      {"a.f64", GgufValue::scalar_float(GgufType::kF64, 1.0 / 3)},
      {"a.bool", GgufValue::scalar_int(GgufType::kBool, 1)},
      {"a.strs", GgufValue::array_string({"x", "", "\xe2\x96\x81y"})},
      {"a.floats", GgufValue::array_float(GgufType::kF32, {1.5, -2.0})},
      {"a.ints", GgufValue::array_int(GgufType::kI32, {1, 2, 3})},
  };
}

TEST(Gguf, WriteReadRoundTripIsBitExact) {
  std::vector<float> w(3 * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 0.7f;
  std::vector<uint16_t> h(4 * 2), b(8);
  for (size_t i = 0; i < h.size(); ++i) h[i] = f32_to_f16(w[i]), b[i] = f32_to_bf16(w[i]);
  const GgufMetadata md = sample_metadata();
  const std::vector<GgufWriteTensor> ts = {{"w", {5, 3}, GgmlType::kF32, w.data()},
                                           {"h", {4, 2}, GgmlType::kF16, h.data()},
                                           {"b", {8}, GgmlType::kBF16, b.data()}};
  const std::string bytes = serialize_gguf(md, ts);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const GgufFile g = GgufFile::parse(p, bytes.size(), "mem");
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 64u);
  ASSERT_EQ(g.metadata().size(), md.size());
  for (size_t i = 0; i < md.size(); ++i) {
    EXPECT_EQ(g.metadata()[i].first, md[i].first);
    EXPECT_TRUE(g.metadata()[i].second == md[i].second) << md[i].first;
  }
  ASSERT_EQ(g.tensors().size(), 3u);
  for (const auto& t : g.tensors()) EXPECT_EQ((t.data - p) % 64, 0) << t.name;
  EXPECT_EQ(std::memcmp(g.find_tensor("w")->data, w.data(), w.size() * 4), 0);
  EXPECT_EQ(std::memcmp(g.find_tensor("h")->data, h.data(), h.size() * 2), 0);
  std::vector<float> back(8);
  g.tensor_to_f32(*g.find_tensor("b"), back.data());
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(back[i], bf16_to_f32(b[i]));
  // Writing what was read gives the same bytes again.
  std::vector<GgufWriteTensor> again;
  for (const auto& t : g.tensors()) again.push_back({t.name, t.ne, t.type, t.data});
  EXPECT_EQ(serialize_gguf(g.metadata(), again), bytes);
  EXPECT_EQ(g.get_int("a.u8"), 200);
  EXPECT_EQ(g.get_float("a.f32"), 0.25);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_THROW(g.get_int("missing.key"), Error);
  EXPECT_THROW(g.get_string("a.u8"), Error);
}

std::string error_of(const std::string& bytes) {
  try {
    GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, RejectsBadFilesWithNamedErrors) {
  std::vector<float> w(16, 1.0f);
  const std::string good =
      serialize_gguf(sample_metadata(), {{"w", {4, 4}, GgmlType::kF32, w.data()}});
  EXPECT_NE(error_of("GGML" + good.substr(4)).find("wrong magic"), std::string::npos);
  EXPECT_NE(error_of("").find("bad.gguf"), std::string::npos);
  std::string v9 = good;
  v9[4] = 9;
  EXPECT_NE(error_of(v9).find("version 9"), std::string::npos);
  // Every truncation is an error, never a crash.
  for (size_t n = 0; n < good.size(); n += 7)
    EXPECT_NE(error_of(good.substr(0, n)), "") << "truncated to " << n;
  std::string huge = good;  // tensor count of 2^40
  const uint64_t big = 1ull << 40;
  std::memcpy(huge.data() + 8, &big, 8);
  EXPECT_NE(error_of(huge).find("tensor count"), std::string::npos);
  // Two tensors at the same offset overlap.
  const std::string two = serialize_gguf(
      {}, {{"a", {16}, GgmlType::kF32, w.data()}, {"b", {16}, GgmlType::kF32, w.data()}});
  std::string overlap = two;
  const size_t off_b = two.find(std::string("\x01\0\0\0\0\0\0\0b", 9)) + 9 + 4 + 8 + 4;
  const uint64_t zero = 0;
  std::memcpy(overlap.data() + off_b, &zero, 8);
  EXPECT_NE(error_of(overlap).find("overlap"), std::string::npos) << error_of(overlap);
}

TEST(Gguf, ReadsVersion2AndQ8_0) {
  // One Q8_0 block: scale 0.5 (f16 0x3800), q = -16..15 -> values -8 .. 7.5.
  std::vector<uint8_t> block(34);
  const uint16_t d = 0x3800;
  std::memcpy(block.data(), &d, 2);
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  std::string bytes = serialize_gguf({}, {{"q", {32}, GgmlType::kQ8_0, block.data()}});
  bytes[4] = 2;  // version 2 has the same layout as 3
  const GgufFile g = GgufFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "v2");
  EXPECT_EQ(g.version(), 2u);
  std::vector<float> out(32);
  g.tensor_to_f32(g.tensors()[0], out.data());
  for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], 0.5f * static_cast<float>(j - 16));
  // A Q8_0 tensor whose first dim is not a multiple of 32 is refused.
  std::string odd = serialize_gguf({}, {{"q", {32}, GgmlType::kQ8_0, block.data()}});
  const size_t dim_at = odd.find(std::string("q\x01\0\0\0", 5)) + 5;
  odd[dim_at] = 16;
  EXPECT_NE(error_of(odd).find("block"), std::string::npos) << error_of(odd);
}

TEST(Gguf, ReadsVersion1Stories260K) {
  if (!have_data("models/stories260K-f32.gguf")) GTEST_SKIP() << "no ../shared/data";
  const GgufFile g = GgufFile::open(kData + "/models/stories260K-f32.gguf");
  EXPECT_EQ(g.version(), 1u);
  EXPECT_EQ(g.tensors().size(), 48u);
  EXPECT_EQ(g.get_int("llama.embedding_length"), 64);
  EXPECT_EQ(g.get_int("llama.block_count"), 5);
  const GgufTensorInfo* emb = g.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(g.find("tokenizer.ggml.tokens")->count(), 512u);
}

TEST(Gguf, ReadsVersion3F16) {
  if (!have_data("models/llama-2-tiny-random-f16.gguf")) GTEST_SKIP() << "no ../shared/data";
  const GgufFile g = GgufFile::open(kData + "/models/llama-2-tiny-random-f16.gguf");
  EXPECT_EQ(g.version(), 3u);
  bool any_f16 = false;
  for (const auto& t : g.tensors()) any_f16 |= t.type == GgmlType::kF16;
  EXPECT_TRUE(any_f16);
}

}  // namespace
}  // namespace longctx::io
