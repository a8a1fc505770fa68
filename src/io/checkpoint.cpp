#include "io/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/model_check.h"
#include "io/safetensors.h"

namespace longctx::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kManifestFile = "manifest.json";

std::string checkpoint_name(int64_t step) {
  return strformat("%s%08lld", kPrefix, static_cast<long long>(step));
}

// Step of a "checkpoint-N" folder name, or -1.
int64_t step_of(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::strlen(kPrefix));
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

void write_text(const fs::path& p, const std::string& text) {
  write_file_atomic(p.string(), text.data(), text.size());
}

uint64_t file_checksum(const std::string& path) {
  const MappedFile f = MappedFile::open(path);
  return fnv1a64(f.data(), f.size());
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  if (!fs::is_directory(run_dir)) return {};
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const int64_t s = step_of(e.path().filename().string());
    if (s >= 0 && e.is_directory()) found.emplace_back(s, e.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& [s, p] : found) out.push_back(p);
  return out;
}

std::string save_checkpoint(const std::string& run_dir, const CheckpointSave& s) {
  LONGCTX_CHECK(s.model, "save_checkpoint: no model");
  LONGCTX_CHECK(s.step >= 0, "save_checkpoint: step %lld < 0", static_cast<long long>(s.step));
  LONGCTX_CHECK((s.adam_m == nullptr) == (s.adam_v == nullptr),
                "save_checkpoint: give both AdamW moments or neither");
  // Every refusal comes before the first file is written.
  const std::string what = "saving checkpoint " + std::to_string(s.step) + " in '" + run_dir + "'";
  check_model(*s.model, s.tokenizer, what);
  for (const model::ParameterSet* set : {s.adam_m, s.adam_v}) {
    if (!set) continue;
    const auto& want = s.model->params.entries();
    const auto& have = set->entries();
    bool same = have.size() == want.size() && set->size() == s.model->params.size();
    for (size_t i = 0; same && i < have.size(); ++i)
      same = have[i].name == want[i].name && have[i].shape == want[i].shape;
    LONGCTX_CHECK(same, "%s: the optimizer state has another layout than the model (%zu tensors, "
                  "%zu floats; the model %zu, %zu)", what.c_str(), have.size(), set->size(),
                  want.size(), s.model->params.size());
  }
  fs::create_directories(run_dir);
  const fs::path final_dir = fs::path(run_dir) / checkpoint_name(s.step);
  const fs::path tmp = fs::path(run_dir) / (std::string(".").append(checkpoint_name(s.step)).append(".tmp"));
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  save_hf_model(*s.model, s.tokenizer, tmp.string(), DType::kF32);
  if (s.adam_m) {
    std::vector<SafetensorsWriteTensor> tensors;
    for (auto [prefix, set] : {std::pair{"exp_avg.", s.adam_m}, std::pair{"exp_avg_sq.", s.adam_v}}) {
      for (const model::ParamEntry& e : set->entries())
        tensors.push_back({prefix + e.name, DType::kF32,
                           std::vector<int64_t>(e.shape.dims.begin(), e.shape.dims.begin() + e.shape.ndim),
                           set->data() + e.offset});
    }
    write_safetensors((tmp / kOptimizerFile).string(), tensors);
  }
  write_text(tmp / kStateFile, json{{"step", s.step}, {"state", s.state}}.dump(2) + "\n");

  json files = json::object();
  for (const auto& e : fs::directory_iterator(tmp)) {
    const std::string name = e.path().filename().string();
    files[name] = {{"size", fs::file_size(e.path())},
                   {"fnv1a64", strformat("%016llx", static_cast<unsigned long long>(
                                                         file_checksum(e.path().string())))}};
  }
  write_text(tmp / kManifestFile, json{{"format", "longctx-checkpoint-1"}, {"files", files}}.dump(2) + "\n");
  fsync_directory(tmp.string());

  // Replace an existing checkpoint of the same step: move it aside first (a directory
  // cannot be renamed over a non-empty one), then drop it once the new one is in place.
  const fs::path old = fs::path(run_dir) / (std::string(".").append(checkpoint_name(s.step)).append(".old"));
  if (fs::exists(final_dir)) {
    fs::remove_all(old);
    fs::rename(final_dir, old);
  }
  fs::rename(tmp, final_dir);
  fsync_directory(run_dir);
  fs::remove_all(old);

  if (s.keep_last > 0) {
    std::vector<std::string> all = list_checkpoints(run_dir);
    for (size_t i = 0; i + static_cast<size_t>(s.keep_last) < all.size(); ++i) fs::remove_all(all[i]);
  }
  // Stray temporaries from interrupted saves.
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n[0] == '.' && n.rfind(".checkpoint-", 0) == 0 && e.path() != tmp)
      fs::remove_all(e.path());
  }
  return final_dir.string();
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  std::string dir = path;
  if (step_of(fs::path(path).filename().string()) < 0 && !fs::exists(fs::path(path) / kManifestFile)) {
    const std::vector<std::string> all = list_checkpoints(path);
    LONGCTX_CHECK(!all.empty(), "checkpoint '%s': no checkpoint-N folder found", path.c_str());
    dir = all.back();
  }
  const fs::path d(dir);
  const fs::path manifest_path = d / kManifestFile;
  LONGCTX_CHECK(fs::exists(manifest_path), "checkpoint '%s': no %s (incomplete checkpoint)",
                dir.c_str(), kManifestFile);
  json manifest;
  try {
    std::ifstream in(manifest_path);
    manifest = json::parse(in);
  } catch (const json::exception& e) {
    throw_error("checkpoint '%s': %s is not valid JSON: %s", dir.c_str(), kManifestFile, e.what());
  }
  LONGCTX_CHECK(manifest.is_object() && manifest.contains("files") && manifest["files"].is_object(),
                "checkpoint '%s': %s has no files table", dir.c_str(), kManifestFile);
  for (auto it = manifest["files"].begin(); it != manifest["files"].end(); ++it) {
    const std::string name = it.key();
    LONGCTX_CHECK(name.find('/') == std::string::npos && name != "..",
                  "checkpoint '%s': bad file name '%s' in manifest", dir.c_str(), name.c_str());
    const fs::path f = d / name;
    LONGCTX_CHECK(fs::exists(f), "checkpoint '%s': file '%s' listed in the manifest is missing",
                  dir.c_str(), name.c_str());
    const json& meta = it.value();
    LONGCTX_CHECK(meta.is_object() && meta.contains("size") && meta["size"].is_number_unsigned() &&
                      meta.contains("fnv1a64") && meta["fnv1a64"].is_string(),
                  "checkpoint '%s': manifest entry for '%s' is malformed", dir.c_str(), name.c_str());
    LONGCTX_CHECK(fs::file_size(f) == meta["size"].get<uint64_t>(),
                  "checkpoint '%s': '%s' has %llu bytes, the manifest says %llu", dir.c_str(),
                  name.c_str(), static_cast<unsigned long long>(fs::file_size(f)),
                  static_cast<unsigned long long>(meta["size"].get<uint64_t>()));
    const std::string sum = strformat("%016llx", static_cast<unsigned long long>(file_checksum(f.string())));
    LONGCTX_CHECK(sum == meta["fnv1a64"].get<std::string>(),
                  "checkpoint '%s': '%s' checksum %s does not match the manifest's %s (corrupted)",
                  dir.c_str(), name.c_str(), sum.c_str(), meta["fnv1a64"].get<std::string>().c_str());
  }

  LoadedCheckpoint out{load_hf_model(dir), std::nullopt, std::nullopt, 0, json(), dir};
  try {
    std::ifstream in(d / kStateFile);
    const json st = json::parse(in);
    LONGCTX_CHECK(st.is_object() && st.contains("step") && st["step"].is_number_integer() &&
                      st.contains("state"),
                  "checkpoint '%s': %s needs step and state", dir.c_str(), kStateFile);
    out.step = st["step"].get<int64_t>();
    out.state = st["state"];
  } catch (const json::exception& e) {
    throw_error("checkpoint '%s': %s: %s", dir.c_str(), kStateFile, e.what());
  }
  if (fs::exists(d / kOptimizerFile)) {
    const SafetensorsSet st = SafetensorsSet::open((d / kOptimizerFile).string());
    const model::ParameterSet& p = out.model.model.params;
    out.adam_m.emplace(out.model.model.config);
    out.adam_v.emplace(out.model.model.config);
    for (auto [prefix, set] : {std::pair{"exp_avg.", &*out.adam_m}, std::pair{"exp_avg_sq.", &*out.adam_v}})
      for (const model::ParamEntry& e : p.entries()) {
        const std::string name = prefix + e.name;
        const SafetensorsEntry* t = st.find(name);
        LONGCTX_CHECK(t, "checkpoint '%s': optimizer state lacks '%s'", dir.c_str(), name.c_str());
        LONGCTX_CHECK(t->dtype == "F32", "checkpoint '%s': optimizer tensor '%s' is %s, not F32",
                      dir.c_str(), name.c_str(), t->dtype.c_str());
        st.read_f32(name, std::vector<int64_t>(e.shape.dims.begin(), e.shape.dims.begin() + e.shape.ndim),
                    set->data() + e.offset);
      }
    LONGCTX_CHECK(st.names().size() == 2 * p.entries().size(),
                  "checkpoint '%s': optimizer state has %zu tensors, expected %zu", dir.c_str(),
                  st.names().size(), 2 * p.entries().size());
  }
  return out;
}

}  // namespace longctx::io
