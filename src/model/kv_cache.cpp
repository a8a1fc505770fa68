#include "model/kv_cache.h"

#include <cstring>
#include <sstream>

#include "core/error.h"

namespace longctx::model {

using kernels::StorageType;

KvTypes parse_kv_types(const std::string& text, const std::string& what) {
  KvTypes t;
  if (text.find('=') == std::string::npos) {
    t.k = t.v = kernels::parse_storage_type(text, what);
    return t;
  }
  bool have_k = false, have_v = false;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t eq = item.find('=');
    LONGCTX_CHECK(eq != std::string::npos, "%s: '%s' is not key=type (e.g. k=f32,v=q8_0)",
                  what.c_str(), item.c_str());
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "k") {
      t.k = kernels::parse_storage_type(value, what + " (k)");
      have_k = true;
    } else if (key == "v") {
      t.v = kernels::parse_storage_type(value, what + " (v)");
      have_v = true;
    } else {
      throw_error("%s: unknown key '%s' (use k= and v=)", what.c_str(), key.c_str());
    }
  }
  LONGCTX_CHECK(have_k && have_v, "%s: give both k= and v= (e.g. k=f32,v=q8_0), got '%s'",
                what.c_str(), text.c_str());
  return t;
}

std::string format_kv_types(const KvTypes& t) {
  return std::string("k=") + kernels::storage_type_name(t.k) + ",v=" + kernels::storage_type_name(t.v);
}

namespace {
int64_t kv_row_elements(const ModelConfig& c) { return c.n_kv_heads * c.resolved_head_dim(); }

size_t row_bytes_checked(StorageType t, const ModelConfig& c, const char* which) {
  const int64_t KD = kv_row_elements(c);
  LONGCTX_CHECK(t != StorageType::kQ8_0 || KD % kernels::kQ8_0Block == 0,
                "KV cache: %s type q8_0 needs n_kv_heads * head_dim (%lld) to be a multiple of %lld",
                which, static_cast<long long>(KD), static_cast<long long>(kernels::kQ8_0Block));
  return kernels::storage_row_bytes(t, KD);
}
}  // namespace

size_t kv_cache_bytes(const ModelConfig& config, int64_t capacity, KvTypes types) {
  const size_t per_row = row_bytes_checked(types.k, config, "key") + row_bytes_checked(types.v, config, "value");
  return per_row * static_cast<size_t>(capacity) * static_cast<size_t>(config.n_layers);
}

KVCache::KVCache(const ModelConfig& config, int64_t capacity, KvTypes types)
    : config_(config), types_(types), capacity_(capacity) {
  config.validate();
  LONGCTX_CHECK(capacity > 0, "KVCache: capacity must be positive, got %lld",
                static_cast<long long>(capacity));
  k_row_bytes_ = row_bytes_checked(types.k, config, "key");
  v_row_bytes_ = row_bytes_checked(types.v, config, "value");
  layer_bytes_ = (k_row_bytes_ + v_row_bytes_) * static_cast<size_t>(capacity);
  bytes_ = layer_bytes_ * static_cast<size_t>(config.n_layers);
  // Not zeroed: rows are written before they are read, and untouched pages stay unmapped.
  data_.reset(static_cast<uint8_t*>(aligned_alloc_bytes(bytes_)));
}

size_t KVCache::bytes_used() const {
  return (k_row_bytes_ + v_row_bytes_) * static_cast<size_t>(position_) *
         static_cast<size_t>(config_.n_layers);
}

void KVCache::truncate(int64_t n) {
  LONGCTX_CHECK(n >= 0 && n <= position_, "KVCache::truncate: %lld outside [0, %lld]",
                static_cast<long long>(n), static_cast<long long>(position_));
  position_ = n;
}

void KVCache::advance(int64_t n) {
  LONGCTX_CHECK(n >= 0 && position_ + n <= capacity_, "KVCache::advance: %lld rows at %lld exceed %lld",
                static_cast<long long>(n), static_cast<long long>(position_),
                static_cast<long long>(capacity_));
  position_ += n;
}

uint8_t* KVCache::k_rows(int64_t layer) { return data_.get() + static_cast<size_t>(layer) * layer_bytes_; }
uint8_t* KVCache::v_rows(int64_t layer) {
  return k_rows(layer) + k_row_bytes_ * static_cast<size_t>(capacity_);
}
const uint8_t* KVCache::k_rows(int64_t layer) const {
  return data_.get() + static_cast<size_t>(layer) * layer_bytes_;
}
const uint8_t* KVCache::v_rows(int64_t layer) const {
  return k_rows(layer) + k_row_bytes_ * static_cast<size_t>(capacity_);
}

void KVCache::set_key_freqs(const kernels::RopeFreqs& f) {
  key_freqs_ = f;
  has_key_freqs_ = true;
}

bool KVCache::compatible_with(const KVCache& o) const {
  return types_ == o.types_ && config_.n_layers == o.config_.n_layers &&
         kv_row_elements(config_) == kv_row_elements(o.config_) &&
         config_.n_kv_heads == o.config_.n_kv_heads;
}

void KVCache::copy_prefix_from(const KVCache& src, int64_t n) {
  LONGCTX_CHECK(compatible_with(src), "KVCache::copy_prefix_from: caches of different shapes or types");
  LONGCTX_CHECK(n >= 0 && n <= src.position_ && n <= capacity_,
                "KVCache::copy_prefix_from: %lld tokens (source holds %lld, capacity %lld)",
                static_cast<long long>(n), static_cast<long long>(src.position_),
                static_cast<long long>(capacity_));
  for (int64_t l = 0; l < config_.n_layers; ++l) {
    std::memcpy(k_rows(l), src.k_rows(l), k_row_bytes_ * static_cast<size_t>(n));
    std::memcpy(v_rows(l), src.v_rows(l), v_row_bytes_ * static_cast<size_t>(n));
  }
  position_ = n;
  has_key_freqs_ = src.has_key_freqs_;
  key_freqs_ = src.key_freqs_;
}

}  // namespace longctx::model
