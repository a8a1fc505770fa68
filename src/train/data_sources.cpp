#include "train/data_sources.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace longctx::train {

namespace fs = std::filesystem;

namespace {

DataSource parse_spec(const std::string& spec) {
  DataSource s;
  s.dir = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size()) {
    char* end = nullptr;
    const double share = std::strtod(spec.c_str() + colon + 1, &end);
    if (*end == 0) {
      LONGCTX_CHECK(share > 0, "--data '%s': the share must be positive", spec.c_str());
      s.dir = spec.substr(0, colon);
      s.share = share;
    }
  }
  return s;
}

}  // namespace

std::vector<DataSource> resolve_sources(const std::vector<std::string>& specs) {
  LONGCTX_CHECK(!specs.empty(), "--data: at least one shard folder is required");
  std::vector<DataSource> out;
  for (const std::string& spec : specs) {
    DataSource s = parse_spec(spec);
    const fs::path dir(s.dir);
    const fs::path meta_path = dir / "dataset.json";
    LONGCTX_CHECK(fs::exists(meta_path),
                  "--data '%s': no dataset.json (make shards with `longctx data prepare` or "
                  "`longctx data default`)",
                  s.dir.c_str());
    std::ifstream in(meta_path);
    const nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
    LONGCTX_CHECK(!meta.is_discarded() && meta.is_object() && meta.contains("tokenizer") &&
                      meta["tokenizer"].is_object(),
                  "--data '%s': dataset.json is not JSON with a tokenizer object", s.dir.c_str());
    const nlohmann::json& tok = meta["tokenizer"];
    try {
      s.vocab_size = tok.at("vocab_size").get<int64_t>();
      s.bos_id = tok.value("bos_id", 1);
      s.eos_id = tok.value("eos_id", 2);
      s.pad_id = tok.value("pad_id", -1);
    } catch (const nlohmann::json::exception& e) {
      throw_error("--data '%s': dataset.json tokenizer: %s", s.dir.c_str(), e.what());
    }
    if (s.pad_id < 0) s.pad_id = s.eos_id >= 0 ? s.eos_id : 0;  // any valid id: padding has no loss
    s.train_prefix = (dir / "train").string();
    LONGCTX_CHECK(fs::exists(s.train_prefix + ".idx"), "--data '%s': no train.idx", s.dir.c_str());
    if (fs::exists(dir / "valid.idx")) s.valid_prefix = (dir / "valid").string();
    if (fs::exists(dir / "tokenizer.model")) {
      s.tokenizer_path = (dir / "tokenizer.model").string();
    } else if (tok.contains("path") && tok["path"].is_string() &&
               fs::exists(tok["path"].get<std::string>())) {
      s.tokenizer_path = tok["path"].get<std::string>();
    }
    if (!out.empty()) {
      const DataSource& first = out.front();
      LONGCTX_CHECK(
          s.vocab_size == first.vocab_size && s.bos_id == first.bos_id && s.eos_id == first.eos_id,
          "--data: '%s' (vocab %lld, BOS %d, EOS %d) and '%s' (vocab %lld, BOS %d, "
          "EOS %d) use different tokenizers",
          first.dir.c_str(), static_cast<long long>(first.vocab_size), first.bos_id, first.eos_id,
          s.dir.c_str(), static_cast<long long>(s.vocab_size), s.bos_id, s.eos_id);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace longctx::train
