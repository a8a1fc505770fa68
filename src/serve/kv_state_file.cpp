#include "serve/kv_state_file.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/mapped_file.h"
#include "rope/rope_spec.h"

namespace longctx::serve {

namespace {

constexpr char kMagic[8] = {'L', 'C', 'T', 'X', 'K', 'V', '0', '1'};
constexpr size_t kAlign = 64;

nlohmann::json to_json(const KvFingerprint& f) {
  return {{"model_checksum", f.model_checksum}, {"model", f.model}, {"rope", f.rope},
          {"kv_types", f.kv_types}, {"n_layers", f.n_layers}, {"kv_dim", f.kv_dim}};
}

}  // namespace

KvFingerprint kv_fingerprint(const ServingModel& m, model::KvTypes types) {
  KvFingerprint f;
  f.model_checksum = strformat("%016llx", static_cast<unsigned long long>(m.checksum()));
  f.model = m.name;
  f.rope = rope::format_rope_spec(m.config().rope);
  f.kv_types = model::format_kv_types(types);
  f.n_layers = m.config().n_layers;
  f.kv_dim = m.config().n_kv_heads * m.config().resolved_head_dim();
  return f;
}

void save_kv_state(const std::string& path, const KvFingerprint& fp, std::span<const int32_t> tokens,
                   const model::KVCache& cache) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  LONGCTX_CHECK(n > 0 && n <= cache.position(), "saving KV state '%s': %lld tokens but the cache holds %lld",
                path.c_str(), static_cast<long long>(n), static_cast<long long>(cache.position()));
  const kernels::RopeFreqs* f = cache.key_freqs();
  LONGCTX_CHECK(f != nullptr, "saving KV state '%s': the cache has no keys", path.c_str());
  const nlohmann::json header = {
      {"format", 1},
      {"fingerprint", to_json(fp)},
      {"key_freqs",
       {{"theta", f->theta}, {"attention_factor", f->attention_factor}, {"xpos_zeta", f->xpos_zeta},
        {"xpos_scale_base", f->xpos_scale_base}}},
      {"tokens", std::vector<int32_t>(tokens.begin(), tokens.end())},
      {"k_row_bytes", cache.k_row_bytes()},
      {"v_row_bytes", cache.v_row_bytes()}};
  const std::string text = header.dump();
  const size_t head = (16 + text.size() + kAlign - 1) / kAlign * kAlign;
  const size_t per_layer = (cache.k_row_bytes() + cache.v_row_bytes()) * static_cast<size_t>(n);
  std::string bytes(head + per_layer * static_cast<size_t>(cache.config().n_layers), '\0');
  std::memcpy(bytes.data(), kMagic, 8);
  const uint64_t len = text.size();
  std::memcpy(bytes.data() + 8, &len, 8);
  std::memcpy(bytes.data() + 16, text.data(), text.size());
  char* p = bytes.data() + head;
  for (int64_t l = 0; l < cache.config().n_layers; ++l) {
    std::memcpy(p, cache.k_rows(l), cache.k_row_bytes() * static_cast<size_t>(n));
    p += cache.k_row_bytes() * static_cast<size_t>(n);
    std::memcpy(p, cache.v_rows(l), cache.v_row_bytes() * static_cast<size_t>(n));
    p += cache.v_row_bytes() * static_cast<size_t>(n);
  }
  io::write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<int32_t> load_kv_state(const std::string& path, const KvFingerprint& expected,
                                   model::KVCache& cache) {
  const io::MappedFile file = io::MappedFile::open(path);
  const uint8_t* d = file.data();
  LONGCTX_CHECK(file.size() >= 16 && std::memcmp(d, kMagic, 8) == 0,
                "KV state '%s': not a longctx KV state file (bad magic)", path.c_str());
  uint64_t len = 0;
  std::memcpy(&len, d + 8, 8);
  LONGCTX_CHECK(len <= file.size() - 16, "KV state '%s': header length %llu beyond the file", path.c_str(),
                static_cast<unsigned long long>(len));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(d + 16, d + 16 + len);
    const nlohmann::json want = to_json(expected);
    const nlohmann::json& have = h.at("fingerprint");
    for (const char* key : {"model_checksum", "rope", "kv_types", "n_layers", "kv_dim"})
      LONGCTX_CHECK(have.at(key) == want.at(key),
                    "fingerprint field '%s' is %s in the file but %s for this model and settings "
                    "(the state was saved from another model or configuration)",
                    key, have.at(key).dump().c_str(), want.at(key).dump().c_str());
  } catch (const nlohmann::json::exception& e) {
    throw_error("KV state '%s': bad header: %s", path.c_str(), e.what());
  } catch (const Error& e) {
    throw e.with_context("KV state '" + path + "'");
  }
  std::vector<int32_t> tokens;
  kernels::RopeFreqs freqs;
  try {
    tokens = h.at("tokens").get<std::vector<int32_t>>();
    const nlohmann::json& f = h.at("key_freqs");
    freqs.theta = f.at("theta").get<std::vector<double>>();
    freqs.attention_factor = f.at("attention_factor").get<double>();
    freqs.xpos_zeta = f.at("xpos_zeta").get<std::vector<double>>();
    freqs.xpos_scale_base = f.at("xpos_scale_base").get<double>();
    LONGCTX_CHECK(h.at("k_row_bytes").get<size_t>() == cache.k_row_bytes() &&
                      h.at("v_row_bytes").get<size_t>() == cache.v_row_bytes(),
                  "row sizes differ from this cache's");
  } catch (const nlohmann::json::exception& e) {
    throw_error("KV state '%s': bad header: %s", path.c_str(), e.what());
  } catch (const Error& e) {
    throw e.with_context("KV state '" + path + "'");
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  LONGCTX_CHECK(n > 0 && n <= cache.capacity(),
                "KV state '%s': %lld tokens do not fit a cache of %lld (raise --ctx)", path.c_str(),
                static_cast<long long>(n), static_cast<long long>(cache.capacity()));
  const size_t head = (16 + len + kAlign - 1) / kAlign * kAlign;
  const size_t per_layer = (cache.k_row_bytes() + cache.v_row_bytes()) * static_cast<size_t>(n);
  LONGCTX_CHECK(file.size() == head + per_layer * static_cast<size_t>(cache.config().n_layers),
                "KV state '%s': %zu bytes, expected %zu for %lld tokens (truncated or corrupt)",
                path.c_str(), file.size(), head + per_layer * static_cast<size_t>(cache.config().n_layers),
                static_cast<long long>(n));
  const uint8_t* p = d + head;
  for (int64_t l = 0; l < cache.config().n_layers; ++l) {
    std::memcpy(cache.k_rows(l), p, cache.k_row_bytes() * static_cast<size_t>(n));
    p += cache.k_row_bytes() * static_cast<size_t>(n);
    std::memcpy(cache.v_rows(l), p, cache.v_row_bytes() * static_cast<size_t>(n));
    p += cache.v_row_bytes() * static_cast<size_t>(n);
  }
  cache.reset();
  cache.advance(n);
  cache.set_key_freqs(freqs);
  return tokens;
}

}  // namespace longctx::serve
