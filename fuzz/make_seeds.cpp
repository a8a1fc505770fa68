// Writes small valid inputs for the fuzz targets: make_seeds <corpus root>.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/sentencepiece_proto.h"

using namespace longctx::io;
namespace fs = std::filesystem;

static void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

// A GGUF version 1 file by hand (u32 counts, lengths and dims).
static std::string gguf_v1() {
  std::string s = "GGUF";
  auto u32 = [&](uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [&](uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); };
  auto str = [&](const std::string& x) { u32(static_cast<uint32_t>(x.size())); s += x; };
  u32(1); u32(1); u32(2);
  str("general.architecture"); u32(8); str("llama");
  str("tokenizer.ggml.tokens"); u32(9); u32(8); u32(2); str("<unk>"); str("a");
  str("t"); u32(2); u32(4); u32(2); u32(0); u64(0);
  s.resize((s.size() + 31) / 32 * 32, '\0');
  s.append(32, '\x01');
  return s;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const fs::path root = argv[1];
  // GGUF: a tiny LLaMA (dim 8, 1 layer, 2 heads, ffn 16, vocab 8) with a vocabulary.
  const int64_t C = 8, F = 16, V = 8;
  std::vector<float> w(F * C, 0.5f);
  std::vector<uint16_t> h(F * C, 0x3c00);
  GgufMetadata md = {
      {"general.architecture", GgufValue::string("llama")},
      {"llama.embedding_length", GgufValue::scalar_int(GgufType::kU32, C)},
      {"llama.block_count", GgufValue::scalar_int(GgufType::kU32, 1)},
      {"llama.feed_forward_length", GgufValue::scalar_int(GgufType::kU32, F)},
      {"llama.attention.head_count", GgufValue::scalar_int(GgufType::kU32, 2)},
      {"llama.attention.head_count_kv", GgufValue::scalar_int(GgufType::kU32, 1)},
      {"llama.context_length", GgufValue::scalar_int(GgufType::kU32, 64)},
      {"llama.attention.layer_norm_rms_epsilon", GgufValue::scalar_float(GgufType::kF32, 1e-5)},
      {"llama.rope.freq_base", GgufValue::scalar_float(GgufType::kF32, 500000)},
      {"llama.rope.scaling.type", GgufValue::string("linear")},
      {"llama.rope.scaling.factor", GgufValue::scalar_float(GgufType::kF32, 4)},
      {"tokenizer.ggml.model", GgufValue::string("llama")},
      {"tokenizer.ggml.tokens", GgufValue::array_string({"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "<0x41>"})},
      {"tokenizer.ggml.scores", GgufValue::array_float(GgufType::kF32, {0, 0, 0, -1, -2, -3, -4, 0})},
      {"tokenizer.ggml.token_type", GgufValue::array_int(GgufType::kI32, {2, 3, 3, 1, 1, 1, 1, 6})},
      {"tokenizer.ggml.bos_token_id", GgufValue::scalar_int(GgufType::kU32, 1)},
      {"tokenizer.ggml.eos_token_id", GgufValue::scalar_int(GgufType::kU32, 2)},
  };
  std::vector<GgufWriteTensor> ts = {
      {"token_embd.weight", {C, V}, GgmlType::kF32, w.data()},
      {"blk.0.attn_norm.weight", {C}, GgmlType::kF32, w.data()},
      {"blk.0.attn_q.weight", {C, C}, GgmlType::kF16, h.data()},
      {"blk.0.attn_k.weight", {C, 4}, GgmlType::kBF16, h.data()},
      {"blk.0.ffn_up.weight", {C, F}, GgmlType::kF32, w.data()},
      {"q8", {32}, GgmlType::kQ8_0, h.data()},
  };
  write(root / "gguf" / "tiny_llama.gguf", serialize_gguf(md, ts));
  write(root / "gguf" / "v1.gguf", gguf_v1());
  write(root / "safetensors" / "two.safetensors",
        serialize_safetensors({{"a", longctx::DType::kF32, {2, 4}, w.data()},
                               {"b", longctx::DType::kBF16, {3}, h.data()}}, {{"format", "pt"}}));
  SpModel sp;
  sp.pieces = {{"<unk>", 0, PieceType::kUnknown}, {"<s>", 0, PieceType::kControl},
               {"</s>", 0, PieceType::kControl}, {"\xe2\x96\x81" "a", -1, PieceType::kNormal}};
  write(root / "sp_proto" / "tiny.model", serialize_sp_model(sp));
  return 0;
}
