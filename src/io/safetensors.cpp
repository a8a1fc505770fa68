#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/float_formats.h"

namespace longctx::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference refuses more than 100 MB

size_t safetensors_dtype_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8},
      {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    default: throw_error("safetensors writer: dtype %s is not supported (f32, f16, bf16)",
                         dtype_name(t));
  }
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors(const uint8_t* data, size_t size, const std::string& origin) {
  const char* o = origin.c_str();
  if (size < 8) throw_error("safetensors '%s': truncated: %zu bytes, no header length", o, size);
  uint64_t n;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeaderBytes || n > size - 8)
    throw_error("safetensors '%s': header length %llu exceeds the file (%zu bytes) or 100 MB", o,
                static_cast<unsigned long long>(n), size);
  json j;
  try {
    j = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    throw_error("safetensors '%s': header is not valid JSON: %s", o, e.what());
  }
  if (!j.is_object()) throw_error("safetensors '%s': header is not a JSON object", o);
  const size_t data_size = size - 8 - static_cast<size_t>(n);
  const uint8_t* base = data + 8 + n;
  SafetensorsHeader h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw_error("safetensors '%s': __metadata__ is not an object", o);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw_error("safetensors '%s': __metadata__ value '%s' is not a string", o,
                      m.key().c_str());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const char* nm = name.c_str();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets") || !v["dtype"].is_string() || !v["shape"].is_array() ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw_error("safetensors '%s': tensor '%s': needs dtype (string), shape (array) and "
                  "data_offsets ([begin, end])", o, nm);
    SafetensorsEntry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    const size_t es = safetensors_dtype_size(e.dtype);
    if (es == 0) throw_error("safetensors '%s': tensor '%s': unknown dtype '%s'", o, nm, e.dtype.c_str());
    if (v["shape"].size() > 8) throw_error("safetensors '%s': tensor '%s': too many dims", o, nm);
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 40))
        throw_error("safetensors '%s': tensor '%s': invalid dimension %s", o, nm, d.dump().c_str());
      const uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > (1ull << 50) / x)
        throw_error("safetensors '%s': tensor '%s': absurd element count", o, nm);
      numel *= x;
      e.shape.push_back(static_cast<int64_t>(x));
    }
    for (const json& d : v["data_offsets"])
      if (!d.is_number_unsigned())
        throw_error("safetensors '%s': tensor '%s': data_offsets must be unsigned integers", o, nm);
    const uint64_t b = v["data_offsets"][0].get<uint64_t>(), end = v["data_offsets"][1].get<uint64_t>();
    if (b > end || end > data_size)
      throw_error("safetensors '%s': tensor '%s': bytes [%llu, %llu) outside the %zu-byte data "
                  "section (truncated file?)", o, nm, static_cast<unsigned long long>(b),
                  static_cast<unsigned long long>(end), data_size);
    if (end - b != numel * es)
      throw_error("safetensors '%s': tensor '%s': %llu bytes do not hold shape of %llu %s values",
                  o, nm, static_cast<unsigned long long>(end - b),
                  static_cast<unsigned long long>(numel), e.dtype.c_str());
    e.begin = static_cast<size_t>(b);
    e.end = static_cast<size_t>(end);
    e.data = base + e.begin;
    h.entries.push_back(std::move(e));
  }
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& e : h.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1]->end > sorted[i]->begin)
      throw_error("safetensors '%s': tensors '%s' and '%s' overlap", o, sorted[i - 1]->name.c_str(),
                  sorted[i]->name.c_str());
  return h;
}

SafetensorsSet SafetensorsSet::open(const std::string& path) {
  SafetensorsSet s;
  s.origin_ = path;
  std::vector<std::string> files;
  std::string index;
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "model.safetensors.index.json"))
      index = (fs::path(path) / "model.safetensors.index.json").string();
    else if (fs::exists(fs::path(path) / "model.safetensors"))
      files.push_back((fs::path(path) / "model.safetensors").string());
    else
      throw_error("folder '%s' holds neither model.safetensors nor model.safetensors.index.json",
                  path.c_str());
  } else if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
    index = path;
  } else {
    files.push_back(path);
  }
  std::map<std::string, std::string> weight_map;
  if (!index.empty()) {
    std::ifstream in(index);
    if (!in) throw_error("opening safetensors index '%s'", index.c_str());
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      throw_error("safetensors index '%s': invalid JSON: %s", index.c_str(), e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw_error("safetensors index '%s': no weight_map object", index.c_str());
    std::set<std::string> shard_set;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        throw_error("safetensors index '%s': weight_map['%s'] is not a file name", index.c_str(),
                    it.key().c_str());
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f == "..")
        throw_error("safetensors index '%s': shard '%s' must be a plain file name", index.c_str(),
                    f.c_str());
      weight_map[it.key()] = f;
      shard_set.insert(f);
    }
    for (const auto& f : shard_set) files.push_back((fs::path(index).parent_path() / f).string());
  }
  for (const std::string& f : files) {
    auto mf = std::make_unique<MappedFile>(MappedFile::open(f));
    SafetensorsHeader h = parse_safetensors(mf->data(), mf->size(), f);
    for (auto& e : h.entries) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(e.name);
        if (it == weight_map.end() || fs::path(f).filename() != it->second) continue;
      }
      if (s.tensors_.count(e.name))
        throw_error("safetensors '%s': tensor '%s' appears in two shards", path.c_str(), e.name.c_str());
      std::string name = e.name;
      s.tensors_.emplace(name, std::make_pair(std::move(e), f));
    }
    s.files_.push_back(std::move(mf));
  }
  for (const auto& [name, file] : weight_map)
    if (!s.tensors_.count(name))
      throw_error("safetensors index '%s': tensor '%s' is not in shard '%s'", index.c_str(),
                  name.c_str(), file.c_str());
  return s;
}

const SafetensorsEntry* SafetensorsSet::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second.first;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> n;
  for (const auto& [k, v] : tensors_) n.push_back(k);
  return n;
}

void SafetensorsSet::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape,
                              float* out) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    throw_error("safetensors '%s': missing tensor '%s'", origin_.c_str(), name.c_str());
  const SafetensorsEntry& e = it->second.first;
  const char* f = it->second.second.c_str();
  if (e.shape != expected_shape) {
    std::string got, want;
    for (int64_t d : e.shape) got += std::to_string(d) + ",";
    for (int64_t d : expected_shape) want += std::to_string(d) + ",";
    throw_error("safetensors '%s': tensor '%s' has shape (%s) where the config implies (%s)", f,
                name.c_str(), got.c_str(), want.c_str());
  }
  const size_t n = static_cast<size_t>(e.numel());
  if (e.dtype == "F32") {
    std::memcpy(out, e.data, n * 4);
  } else if (e.dtype == "F16" || e.dtype == "BF16") {
    const bool bf = e.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, e.data + 2 * i, 2);
      out[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
    }
  } else {
    throw_error("safetensors '%s': tensor '%s' has dtype %s (supported: F32, F16, BF16)", f,
                name.c_str(), e.dtype.c_str());
  }
}

std::string serialize_safetensors(const std::vector<SafetensorsWriteTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t at = 0;
  for (const auto& t : tensors) {
    LONGCTX_CHECK(t.name != "__metadata__", "safetensors writer: reserved tensor name");
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    const size_t bytes = static_cast<size_t>(numel) * dtype_size(t.dtype);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {at, at + bytes}}};
    at += bytes;
  }
  std::string h = header.dump();
  h.resize((h.size() + 7) / 8 * 8, ' ');  // data starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  out += h;
  out.reserve(out.size() + at);
  for (const auto& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    out.append(static_cast<const char*>(t.data), static_cast<size_t>(numel) * dtype_size(t.dtype));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string bytes = serialize_safetensors(tensors, metadata);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace longctx::io
