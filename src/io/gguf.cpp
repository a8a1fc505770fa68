#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "io/float_formats.h"

namespace longctx::io {

namespace {

// Hard limits that keep a hostile header from asking for absurd allocations
// before the bounds checks against the file size can reject it.
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr int kMaxDims = 4;

// Bounds-checked little-endian reader over the mapped bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& origin, uint32_t version)
      : data_(data), size_(size), origin_(origin), version_(version) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }
  void set_version(uint32_t v) { version_ = v; }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // Counts and lengths are u32 in version 1, u64 later.
  uint64_t read_count(const char* what) {
    return version_ == 1 ? read<uint32_t>(what) : read<uint64_t>(what);
  }
  std::string read_string(const char* what) {
    const uint64_t n = read_count(what);
    if (n > kMaxStringBytes || n > left())
      throw_error("GGUF '%s': %s: string of %llu bytes at offset %zu runs past the end (%zu left)",
                  origin_.c_str(), what, static_cast<unsigned long long>(n), pos_, left());
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  void need(uint64_t n, const char* what) const {
    if (n > left())
      throw_error("GGUF '%s': truncated: %s needs %llu bytes at offset %zu, file has %zu",
                  origin_.c_str(), what, static_cast<unsigned long long>(n), pos_, size_);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& origin_;
  uint32_t version_;
};

size_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

bool is_float_type(GgufType t) { return t == GgufType::kF32 || t == GgufType::kF64; }

void read_element(Cursor& c, GgufType t, GgufValue& v, const std::string& key,
                  const std::string& origin) {
  switch (t) {
    case GgufType::kU8: v.ints.push_back(c.read<uint8_t>("u8")); break;
    case GgufType::kI8: v.ints.push_back(c.read<int8_t>("i8")); break;
    case GgufType::kU16: v.ints.push_back(c.read<uint16_t>("u16")); break;
    case GgufType::kI16: v.ints.push_back(c.read<int16_t>("i16")); break;
    case GgufType::kU32: v.ints.push_back(c.read<uint32_t>("u32")); break;
    case GgufType::kI32: v.ints.push_back(c.read<int32_t>("i32")); break;
    case GgufType::kU64: v.ints.push_back(static_cast<int64_t>(c.read<uint64_t>("u64"))); break;
    case GgufType::kI64: v.ints.push_back(c.read<int64_t>("i64")); break;
    case GgufType::kF32: v.floats.push_back(c.read<float>("f32")); break;
    case GgufType::kF64: v.floats.push_back(c.read<double>("f64")); break;
    case GgufType::kBool: {
      const uint8_t b = c.read<uint8_t>("bool");
      if (b > 1)
        throw_error("GGUF '%s': key '%s': bool value %u is neither 0 nor 1", origin.c_str(),
                    key.c_str(), b);
      v.ints.push_back(b);
      break;
    }
    case GgufType::kString: v.strings.push_back(c.read_string("string value")); break;
    default:
      throw_error("GGUF '%s': key '%s': value type %u is not valid here", origin.c_str(),
                  key.c_str(), static_cast<unsigned>(t));
  }
}

bool valid_value_type(uint32_t t) { return t <= 12; }

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i <= 12 ? names[i] : "invalid";
}

size_t GgufValue::count() const {
  return type == GgufType::kString ? strings.size()
         : is_float_type(type)     ? floats.size()
                                   : ints.size();
}
GgufValue GgufValue::scalar_int(GgufType t, int64_t v) {
  GgufValue r;
  r.type = t;
  r.ints = {v};
  return r;
}
GgufValue GgufValue::scalar_float(GgufType t, double v) {
  GgufValue r;
  r.type = t;
  r.floats = {v};
  return r;
}
GgufValue GgufValue::string(std::string s) {
  GgufValue r;
  r.type = GgufType::kString;
  r.strings = {std::move(s)};
  return r;
}
GgufValue GgufValue::array_int(GgufType t, std::vector<int64_t> v) {
  GgufValue r;
  r.type = t;
  r.is_array = true;
  r.ints = std::move(v);
  return r;
}
GgufValue GgufValue::array_float(GgufType t, std::vector<double> v) {
  GgufValue r;
  r.type = t;
  r.is_array = true;
  r.floats = std::move(v);
  return r;
}
GgufValue GgufValue::array_string(std::vector<std::string> v) {
  GgufValue r;
  r.type = GgufType::kString;
  r.is_array = true;
  r.strings = std::move(v);
  return r;
}
bool GgufValue::operator==(const GgufValue& o) const {
  return type == o.type && is_array == o.is_array && ints == o.ints && floats == o.floats &&
         strings == o.strings;
}

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return "f32";
    case GgmlType::kF16: return "f16";
    case GgmlType::kBF16: return "bf16";
    case GgmlType::kQ4_0: return "q4_0";
    case GgmlType::kQ4_1: return "q4_1";
    case GgmlType::kQ5_0: return "q5_0";
    case GgmlType::kQ5_1: return "q5_1";
    case GgmlType::kQ8_0: return "q8_0";
    case GgmlType::kQ8_1: return "q8_1";
    case GgmlType::kQ2_K: return "q2_k";
    case GgmlType::kQ3_K: return "q3_k";
    case GgmlType::kQ4_K: return "q4_k";
    case GgmlType::kQ5_K: return "q5_k";
    case GgmlType::kQ6_K: return "q6_k";
    case GgmlType::kQ8_K: return "q8_k";
    case GgmlType::kI8: return "i8";
    case GgmlType::kI16: return "i16";
    case GgmlType::kI32: return "i32";
    case GgmlType::kI64: return "i64";
    case GgmlType::kF64: return "f64";
  }
  return "unknown";
}

bool ggml_type_known(uint32_t t) {
  return std::string_view(ggml_type_name(static_cast<GgmlType>(t))) != "unknown";
}

int64_t ggml_block_size(GgmlType t) {
  switch (t) {
    case GgmlType::kQ4_0: case GgmlType::kQ4_1: case GgmlType::kQ5_0: case GgmlType::kQ5_1:
    case GgmlType::kQ8_0: case GgmlType::kQ8_1: return 32;
    case GgmlType::kQ2_K: case GgmlType::kQ3_K: case GgmlType::kQ4_K: case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: case GgmlType::kQ8_K: return 256;
    default: return 1;
  }
}

size_t ggml_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return 4;
    case GgmlType::kF16: case GgmlType::kBF16: return 2;
    case GgmlType::kQ4_0: return 18;
    case GgmlType::kQ4_1: return 20;
    case GgmlType::kQ5_0: return 22;
    case GgmlType::kQ5_1: return 24;
    case GgmlType::kQ8_0: return 34;
    case GgmlType::kQ8_1: return 36;
    case GgmlType::kQ2_K: return 84;
    case GgmlType::kQ3_K: return 110;
    case GgmlType::kQ4_K: return 144;
    case GgmlType::kQ5_K: return 176;
    case GgmlType::kQ6_K: return 210;
    case GgmlType::kQ8_K: return 292;
    case GgmlType::kI8: return 1;
    case GgmlType::kI16: return 2;
    case GgmlType::kI32: return 4;
    case GgmlType::kI64: case GgmlType::kF64: return 8;
  }
  return 0;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

GgufFile GgufFile::open(const std::string& path) {
  MappedFile f = MappedFile::open(path);
  GgufFile g = parse(f.data(), f.size(), path);
  g.file_ = std::move(f);  // the mapping moves; data pointers stay valid
  return g;
}

GgufFile GgufFile::parse(const uint8_t* data, size_t size, const std::string& origin) {
  GgufFile g;
  g.origin_ = origin;
  const std::string& o = g.origin_;
  Cursor c(data, size, o, 3);
  if (size < 8 || std::memcmp(data, "GGUF", 4) != 0)
    throw_error("GGUF '%s': wrong magic (not a GGUF file)", o.c_str());
  c.read<uint32_t>("magic");
  g.version_ = c.read<uint32_t>("version");
  if (g.version_ < 1 || g.version_ > 3)
    throw_error("GGUF '%s': unsupported version %u (known: 1, 2, 3; a big-endian file reads "
                "as a huge version)", o.c_str(), g.version_);
  c.set_version(g.version_);
  const uint64_t n_tensors = c.read_count("tensor count");
  const uint64_t n_kv = c.read_count("metadata count");
  // Each key/value needs at least a length, a byte and a type; each tensor info more.
  if (n_kv > c.left() / 9)
    throw_error("GGUF '%s': metadata count %llu cannot fit in the %zu-byte file", o.c_str(),
                static_cast<unsigned long long>(n_kv), size);
  if (n_tensors > c.left() / 20)
    throw_error("GGUF '%s': tensor count %llu cannot fit in the %zu-byte file", o.c_str(),
                static_cast<unsigned long long>(n_tensors), size);

  std::unordered_set<std::string> keys;
  g.kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("metadata key");
    if (!keys.insert(key).second)
      throw_error("GGUF '%s': duplicate metadata key '%s'", o.c_str(), key.c_str());
    const uint32_t t = c.read<uint32_t>("value type");
    if (!valid_value_type(t))
      throw_error("GGUF '%s': key '%s': invalid value type %u", o.c_str(), key.c_str(), t);
    GgufValue v;
    if (static_cast<GgufType>(t) == GgufType::kArray) {
      const uint32_t et = c.read<uint32_t>("array element type");
      if (!valid_value_type(et) || static_cast<GgufType>(et) == GgufType::kArray)
        throw_error("GGUF '%s': key '%s': invalid or nested array element type %u", o.c_str(),
                    key.c_str(), et);
      const uint64_t n = c.read_count("array length");
      v.type = static_cast<GgufType>(et);
      v.is_array = true;
      // Strings take at least their length field; scalars their size.
      const uint64_t min_elem = v.type == GgufType::kString ? (g.version_ == 1 ? 4 : 8)
                                                            : scalar_bytes(v.type);
      if (n > c.left() / min_elem)
        throw_error("GGUF '%s': key '%s': array of %llu %s runs past the end of the file",
                    o.c_str(), key.c_str(), static_cast<unsigned long long>(n),
                    gguf_type_name(v.type));
      for (uint64_t j = 0; j < n; ++j) read_element(c, v.type, v, key, o);
    } else {
      v.type = static_cast<GgufType>(t);
      read_element(c, v.type, v, key, o);
    }
    g.kv_.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = g.find("general.alignment")) {
    if (a->is_array || a->type != GgufType::kU32)
      throw_error("GGUF '%s': general.alignment must be a u32", o.c_str());
    const int64_t al = a->ints[0];
    if (al <= 0 || (al & (al - 1)) != 0 || al > (1 << 20))
      throw_error("GGUF '%s': general.alignment %lld is not a power of two up to 1 MiB",
                  o.c_str(), static_cast<long long>(al));
    g.alignment_ = static_cast<size_t>(al);
  }

  std::unordered_set<std::string> names;
  g.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("tensor name");
    if (!names.insert(t.name).second)
      throw_error("GGUF '%s': duplicate tensor '%s'", o.c_str(), t.name.c_str());
    const uint32_t nd = c.read<uint32_t>("tensor dimension count");
    if (nd < 1 || nd > kMaxDims)
      throw_error("GGUF '%s': tensor '%s': %u dimensions (1 to %d allowed)", o.c_str(),
                  t.name.c_str(), nd, kMaxDims);
    int64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      // Version 1 stored dims as u32.
      const uint64_t ne = g.version_ == 1 ? c.read<uint32_t>("tensor dim") : c.read<uint64_t>("tensor dim");
      if (ne < 1 || ne > (1ull << 40) || static_cast<uint64_t>(numel) > (1ull << 50) / ne)
        throw_error("GGUF '%s': tensor '%s': absurd dimension %llu", o.c_str(), t.name.c_str(),
                    static_cast<unsigned long long>(ne));
      t.ne.push_back(static_cast<int64_t>(ne));
      numel *= static_cast<int64_t>(ne);
    }
    const uint32_t type = c.read<uint32_t>("tensor type");
    if (!ggml_type_known(type))
      throw_error("GGUF '%s': tensor '%s': unknown ggml type %u", o.c_str(), t.name.c_str(), type);
    t.type = static_cast<GgmlType>(type);
    const int64_t bs = ggml_block_size(t.type);
    if (t.ne[0] % bs != 0)
      throw_error("GGUF '%s': tensor '%s': first dim %lld is not a multiple of the %s block %lld",
                  o.c_str(), t.name.c_str(), static_cast<long long>(t.ne[0]),
                  ggml_type_name(t.type), static_cast<long long>(bs));
    t.nbytes = static_cast<size_t>(numel / bs) * ggml_block_bytes(t.type);
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % g.alignment_ != 0)
      throw_error("GGUF '%s': tensor '%s': offset %llu is not a multiple of the alignment %zu",
                  o.c_str(), t.name.c_str(), static_cast<unsigned long long>(t.offset),
                  g.alignment_);
    g.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const size_t header_end = c.pos();
  g.data_offset_ = (header_end + g.alignment_ - 1) / g.alignment_ * g.alignment_;
  if (!g.tensors_.empty() && g.data_offset_ > size)
    throw_error("GGUF '%s': truncated: data section would start at %zu, file has %zu bytes",
                o.c_str(), g.data_offset_, size);
  const size_t data_size = g.data_offset_ <= size ? size - g.data_offset_ : 0;
  for (GgufTensorInfo& t : g.tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw_error("GGUF '%s': tensor '%s': bytes [%llu, %llu) of the data section lie beyond "
                  "its %zu bytes (truncated file?)", o.c_str(), t.name.c_str(),
                  static_cast<unsigned long long>(t.offset),
                  static_cast<unsigned long long>(t.offset + t.nbytes), data_size);
    t.data = data + g.data_offset_ + t.offset;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : g.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
      throw_error("GGUF '%s': tensors '%s' and '%s' overlap", o.c_str(),
                  by_offset[i - 1]->name.c_str(), by_offset[i]->name.c_str());
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw_error("GGUF '%s': missing metadata key '%s'", origin_.c_str(), key.c_str());
  if (v->is_array || v->ints.size() != 1 || v->type == GgufType::kBool)
    throw_error("GGUF '%s': key '%s' is %s%s, expected an integer", origin_.c_str(), key.c_str(),
                v->is_array ? "an array of " : "", gguf_type_name(v->type));
  return v->ints[0];
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw_error("GGUF '%s': missing metadata key '%s'", origin_.c_str(), key.c_str());
  if (!v->is_array && v->floats.size() == 1) return v->floats[0];
  if (!v->is_array && v->ints.size() == 1 && v->type != GgufType::kBool)
    return static_cast<double>(v->ints[0]);
  throw_error("GGUF '%s': key '%s' is %s%s, expected a number", origin_.c_str(), key.c_str(),
              v->is_array ? "an array of " : "", gguf_type_name(v->type));
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw_error("GGUF '%s': missing metadata key '%s'", origin_.c_str(), key.c_str());
  if (v->is_array || v->type != GgufType::kString)
    throw_error("GGUF '%s': key '%s' is %s%s, expected a string", origin_.c_str(), key.c_str(),
                v->is_array ? "an array of " : "", gguf_type_name(v->type));
  return v->strings[0];
}

int64_t GgufFile::get_int_or(const std::string& key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}
double GgufFile::get_float_or(const std::string& key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}

void GgufFile::tensor_to_f32(const GgufTensorInfo& t, float* out) const {
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.type) {
    case GgmlType::kF32: std::memcpy(out, t.data, n * 4); return;
    case GgmlType::kF16: {
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    }
    case GgmlType::kBF16: {
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    }
    case GgmlType::kQ8_0: dequantize_q8_0(out, t.data, static_cast<int64_t>(n)); return;
    default:
      throw_error("GGUF '%s': tensor '%s': type %s cannot be converted to f32 (supported: f32, "
                  "f16, bf16, q8_0)", origin_.c_str(), t.name.c_str(), ggml_type_name(t.type));
  }
}

}  // namespace longctx::io
