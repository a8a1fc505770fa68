#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/float_formats.h"
#include "io/safetensors.h"

namespace longctx::io {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::string& bytes) {
  try {
    parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

TEST(Safetensors, RoundTripAllDtypes) {
  const std::vector<float> a = {1.5f, -2.25f, 3.0f, 0.1f, 7.0f, -0.5f};
  std::vector<uint16_t> h(6), b(6);
  f32_array_to_f16(h.data(), a.data(), 6);
  f32_array_to_bf16(b.data(), a.data(), 6);
  const std::string bytes = serialize_safetensors(
      {{"a", DType::kF32, {2, 3}, a.data()}, {"h", DType::kF16, {6}, h.data()},
       {"b", DType::kBF16, {3, 2}, b.data()}}, {{"format", "pt"}});
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  uint64_t n;
  std::memcpy(&n, p, 8);
  EXPECT_EQ((8 + n) % 8, 0u);  // data 8-byte aligned
  const SafetensorsHeader hd = parse_safetensors(p, bytes.size(), "mem");
  ASSERT_EQ(hd.entries.size(), 3u);
  EXPECT_EQ(hd.metadata.at("format"), "pt");
  for (const auto& e : hd.entries) {
    if (e.name == "a") {
      EXPECT_EQ(std::memcmp(e.data, a.data(), 24), 0);
    }
    if (e.name == "h") {
      EXPECT_EQ(std::memcmp(e.data, h.data(), 12), 0);
    }
    if (e.name == "b") {
      EXPECT_EQ(e.shape, (std::vector<int64_t>{3, 2}));
    }
  }
}

TEST(Safetensors, ShardedIndex) {
  const fs::path dir = fs::temp_directory_path() / ("longctx_st_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<float> x = {1, 2, 3, 4}, y = {5, 6};
  write_safetensors((dir / "model-00001-of-00002.safetensors").string(), {{"x", DType::kF32, {2, 2}, x.data()}});
  write_safetensors((dir / "model-00002-of-00002.safetensors").string(), {{"y", DType::kF32, {2}, y.data()}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata": {"total_size": 24}, "weight_map": {"x": "model-00001-of-00002.safetensors",
            "y": "model-00002-of-00002.safetensors"}})";
  const SafetensorsSet s = SafetensorsSet::open(dir.string());
  std::vector<float> out(4);
  s.read_f32("x", {2, 2}, out.data());
  EXPECT_EQ(out, x);
  s.read_f32("y", {2}, out.data());
  EXPECT_EQ(out[1], 6.0f);
  EXPECT_THROW(s.read_f32("x", {4}, out.data()), Error);   // wrong shape
  EXPECT_THROW(s.read_f32("z", {1}, out.data()), Error);   // missing
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"x": "model-00002-of-00002.safetensors"}})";
  EXPECT_THROW(SafetensorsSet::open(dir.string()), Error);  // x not in that shard
  fs::remove_all(dir);
}

TEST(Safetensors, RejectsBadHeaders) {
  const std::string data(16, '\0');
  EXPECT_NE(error_of("abc").find("truncated"), std::string::npos);
  std::string huge(16, '\0');
  huge[7] = 1;
  EXPECT_NE(error_of(huge).find("header length"), std::string::npos);
  EXPECT_NE(error_of(with_header("{not json", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(with_header("[]", "")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", data))
                .find("unknown dtype"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data))
                .find("do not hold"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data))
                .find("outside"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data))
                .find("overlap"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", data))
                .find("invalid dimension"), std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2]}})", data)).find("data_offsets"),
            std::string::npos);
}

}  // namespace
}  // namespace longctx::io
