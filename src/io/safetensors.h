// safetensors (Hugging Face): u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"format": "pt"}}, then the data (offsets relative to it).
// Read memory-mapped (single file or sharded through model.safetensors.index.json);
// written atomically with the header padded to 8 bytes, as the reference does.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace longctx::io {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // as written: "F32", "F16", "BF16", "F64", "I64", ...
  std::vector<int64_t> shape;  // row-major
  size_t begin = 0, end = 0;   // byte range in the data section
  const uint8_t* data = nullptr;
  int64_t numel() const;
};

// One parsed header over bytes kept alive elsewhere.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in file order
  std::map<std::string, std::string> metadata;
};
// Strict: header length within the file, valid JSON object, known dtypes, shapes
// matching byte ranges, ranges inside the data and not overlapping; Error names origin.
SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& origin);

// A model's tensors from one file, or from the shards an index names.
class SafetensorsSet {
 public:
  // path: a .safetensors file, an index .json, or a folder holding either
  // model.safetensors.index.json or model.safetensors.
  static SafetensorsSet open(const std::string& path);
  const SafetensorsEntry* find(const std::string& name) const;
  std::vector<std::string> names() const;
  // Converts F32/F16/BF16 to f32 after checking the shape; Error names the tensor.
  void read_f32(const std::string& name, const std::vector<int64_t>& expected_shape,
                float* out) const;
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, std::pair<SafetensorsEntry, std::string>> tensors_;  // -> (entry, file)
};

struct SafetensorsWriteTensor {
  std::string name;
  DType dtype = DType::kF32;   // f32, f16 or bf16
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel elements in dtype
};

std::string serialize_safetensors(const std::vector<SafetensorsWriteTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata);
void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace longctx::io
