// GGUF (llama.cpp's model file): versions 1-3 read, version 3 written.
// Layout: magic "GGUF", version u32, tensor count, metadata count (u32 in v1,
// u64 since v2), metadata key/value pairs, tensor infos, padding to
// general.alignment (default 32), then the tensor data. Strings are a length
// (u32 in v1, u64 since) and bytes. Tensor dims ne[] are fastest-first, so a
// row-major (rows, cols) matrix has ne = [cols, rows]. Everything little-endian.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/mapped_file.h"

namespace longctx::io {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);

// A metadata value: a scalar, or an array of scalars or strings (nested arrays
// are refused, as llama.cpp does). Integers (and bools) live in ints (u64 bit-cast),
// floats in floats, strings in strings; a scalar is a one-element array with
// is_array false, so the original type is kept for an exact rewrite.
struct GgufValue {
  GgufType type = GgufType::kU32;  // element type (never kArray)
  bool is_array = false;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  size_t count() const;
  static GgufValue scalar_int(GgufType t, int64_t v);
  static GgufValue scalar_float(GgufType t, double v);
  static GgufValue string(std::string s);
  static GgufValue array_int(GgufType t, std::vector<int64_t> v);
  static GgufValue array_float(GgufType t, std::vector<double> v);
  static GgufValue array_string(std::vector<std::string> v);
  bool operator==(const GgufValue& o) const;
};

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

// GGML tensor types this code knows the block size of (others are refused).
enum class GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15,
  kI8 = 24, kI16 = 25, kI32 = 26, kI64 = 27, kF64 = 28, kBF16 = 30,
};
const char* ggml_type_name(GgmlType t);
bool ggml_type_known(uint32_t t);
int64_t ggml_block_size(GgmlType t);   // elements per block
size_t ggml_block_bytes(GgmlType t);   // bytes per block

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // fastest-first dims, 1..4 of them
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;      // from the start of the data section
  size_t nbytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping
  int64_t numel() const;
};

class GgufFile {
 public:
  // Opens and maps a file; every structural problem throws Error naming the file.
  static GgufFile open(const std::string& path);
  // Parses bytes kept alive by the caller (fuzzing, tests); origin names them in errors.
  static GgufFile parse(const uint8_t* data, size_t size, const std::string& origin);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }
  const std::string& origin() const { return origin_; }
  const GgufMetadata& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Typed getters: throw Error naming the file and key when absent or of the wrong kind.
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;  // accepts integer values too
  const std::string& get_string(const std::string& key) const;
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;

  // Tensor converted to f32 (f32, f16, bf16, Q8_0); out has numel() elements.
  void tensor_to_f32(const GgufTensorInfo& t, float* out) const;

 private:
  std::string origin_;
  MappedFile file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  GgufMetadata kv_;
  std::vector<GgufTensorInfo> tensors_;
};

struct GgufWriteTensor {
  std::string name;
  std::vector<int64_t> ne;  // fastest-first
  GgmlType type = GgmlType::kF32;
  const void* data = nullptr;  // numel elements already in `type`
};

// Writes a GGUF version 3 file atomically (temp file + fsync + rename). The
// alignment comes from general.alignment in metadata when present, else 32.
void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufWriteTensor>& tensors);
// The same bytes, in memory (tests, fuzz seeds).
std::string serialize_gguf(const GgufMetadata& metadata,
                           const std::vector<GgufWriteTensor>& tensors);

}  // namespace longctx::io
