// GGUF version 3 writer (see gguf.h for the layout).
#include <cstring>

#include "core/error.h"
#include "io/gguf.h"

namespace longctx::io {

namespace {

class ByteSink {
 public:
  template <class T>
  void put(T v) {
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_.append(s);
  }
  void put_bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void pad_to(size_t alignment) {
    out_.resize((out_.size() + alignment - 1) / alignment * alignment, '\0');
  }
  size_t size() const { return out_.size(); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void put_element(ByteSink& s, GgufType t, const GgufValue& v, size_t i) {
  switch (t) {
    case GgufType::kU8: s.put<uint8_t>(static_cast<uint8_t>(v.ints[i])); break;
    case GgufType::kI8: s.put<int8_t>(static_cast<int8_t>(v.ints[i])); break;
    case GgufType::kU16: s.put<uint16_t>(static_cast<uint16_t>(v.ints[i])); break;
    case GgufType::kI16: s.put<int16_t>(static_cast<int16_t>(v.ints[i])); break;
    case GgufType::kU32: s.put<uint32_t>(static_cast<uint32_t>(v.ints[i])); break;
    case GgufType::kI32: s.put<int32_t>(static_cast<int32_t>(v.ints[i])); break;
    case GgufType::kU64: s.put<uint64_t>(static_cast<uint64_t>(v.ints[i])); break;
    case GgufType::kI64: s.put<int64_t>(v.ints[i]); break;
    case GgufType::kBool: s.put<uint8_t>(v.ints[i] ? 1 : 0); break;
    case GgufType::kF32: s.put<float>(static_cast<float>(v.floats[i])); break;
    case GgufType::kF64: s.put<double>(v.floats[i]); break;
    case GgufType::kString: s.put_string(v.strings[i]); break;
    case GgufType::kArray: throw_error("GGUF writer: nested arrays are not supported");
  }
}

}  // namespace

std::string serialize_gguf(const GgufMetadata& metadata,
                           const std::vector<GgufWriteTensor>& tensors) {
  size_t alignment = 32;
  for (const auto& [k, v] : metadata) {
    if (k == "general.alignment") {
      LONGCTX_CHECK(!v.is_array && v.type == GgufType::kU32 && v.ints.size() == 1 &&
                        v.ints[0] > 0 && (v.ints[0] & (v.ints[0] - 1)) == 0,
                    "GGUF writer: general.alignment must be a u32 power of two");
      alignment = static_cast<size_t>(v.ints[0]);
    }
    LONGCTX_CHECK(v.count() == (v.is_array ? v.count() : 1),
                  "GGUF writer: key '%s': scalar with %zu values", k.c_str(), v.count());
  }
  ByteSink s;
  s.put_bytes("GGUF", 4);
  s.put<uint32_t>(3);
  s.put<uint64_t>(tensors.size());
  s.put<uint64_t>(metadata.size());
  for (const auto& [k, v] : metadata) {
    s.put_string(k);
    if (v.is_array) {
      s.put<uint32_t>(static_cast<uint32_t>(GgufType::kArray));
      s.put<uint32_t>(static_cast<uint32_t>(v.type));
      s.put<uint64_t>(v.count());
    } else {
      s.put<uint32_t>(static_cast<uint32_t>(v.type));
    }
    for (size_t i = 0; i < (v.is_array ? v.count() : 1); ++i) put_element(s, v.type, v, i);
  }
  // Tensor infos with offsets laid out back to back, each aligned.
  std::vector<uint64_t> offsets, sizes;
  uint64_t at = 0;
  for (const auto& t : tensors) {
    LONGCTX_CHECK(!t.ne.empty() && t.ne.size() <= 4, "GGUF writer: tensor '%s': %zu dims",
                  t.name.c_str(), t.ne.size());
    int64_t numel = 1;
    for (int64_t d : t.ne) {
      LONGCTX_CHECK(d >= 1, "GGUF writer: tensor '%s': dimension %lld", t.name.c_str(),
                    static_cast<long long>(d));
      numel *= d;
    }
    const int64_t bs = ggml_block_size(t.type);
    LONGCTX_CHECK(t.ne[0] % bs == 0, "GGUF writer: tensor '%s': first dim not a block multiple",
                  t.name.c_str());
    s.put_string(t.name);
    s.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) s.put<uint64_t>(static_cast<uint64_t>(d));
    s.put<uint32_t>(static_cast<uint32_t>(t.type));
    s.put<uint64_t>(at);
    offsets.push_back(at);
    sizes.push_back(static_cast<uint64_t>(numel / bs) * ggml_block_bytes(t.type));
    at = (at + sizes.back() + alignment - 1) / alignment * alignment;
  }
  s.pad_to(alignment);
  const size_t data_start = s.size();
  for (size_t i = 0; i < tensors.size(); ++i) {
    // Pad up to this tensor's offset (the previous one was padded to alignment).
    while (s.size() < data_start + offsets[i]) s.put<uint8_t>(0);
    s.put_bytes(tensors[i].data, sizes[i]);
  }
  if (!tensors.empty()) s.pad_to(alignment);
  return s.take();
}

void write_gguf(const std::string& path, const GgufMetadata& metadata,
                const std::vector<GgufWriteTensor>& tensors) {
  const std::string bytes = serialize_gguf(metadata, tensors);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace longctx::io
