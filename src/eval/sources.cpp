#include "eval/sources.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/indexed_dataset.h"
#include "data/text_input.h"

namespace longctx::eval {
namespace fs = std::filesystem;

std::string resolve_model_path(const std::string& path) {
  if (fs::is_directory(path) && !fs::exists(fs::path(path) / "config.json") &&
      fs::exists(fs::path(path) / "final" / "config.json"))
    return (fs::path(path) / "final").string();
  return path;
}

const io::Tokenizer& EvalModel::tokenizer() const {
  LONGCTX_CHECK(loaded.tokenizer.has_value(),
                "--model '%s' carries no tokenizer; pass --tokenizer <file.model>", path.c_str());
  return *loaded.tokenizer;
}

EvalModel load_eval_model(const std::string& path, const std::string& tokenizer_override) {
  EvalModel m;
  m.path = path;
  m.resolved = resolve_model_path(path);
  try {
    m.loaded = io::load_model(m.resolved);
    if (!tokenizer_override.empty())
      m.loaded.tokenizer = io::Tokenizer::from_file(tokenizer_override);
  } catch (const Error& e) {
    throw e.with_context("--model '" + path + "'");
  }
  fs::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  m.name = p.filename().string();
  m.native_rope = m.loaded.model.config.rope;
  m.trained_length = m.loaded.model.config.max_seq_len;
  return m;
}

nlohmann::json EvalRow::to_json(const EvalModel& m) const {
  return {{"label", label},
          {"model", m.path},
          {"model_loaded", m.resolved},
          {"rope", rope::format_rope_spec(rope)},
          {"rope_native", native},
          {"baseline", baseline},
          {"trained_length", m.trained_length}};
}

std::vector<EvalRow> make_rows(const std::vector<EvalModel>& models,
                               const std::vector<std::string>& rope_specs) {
  std::vector<EvalRow> rows;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::vector<std::string> specs = rope_specs.empty() ? std::vector<std::string>{"model"}
                                                              : rope_specs;
    for (const std::string& s : specs) {
      EvalRow r;
      r.model = static_cast<int>(i);
      r.native = s == "model" || s == "native";
      try {
        r.rope = r.native ? models[i].native_rope : rope::parse_rope_spec(s);
        rope::validate_rope_spec(r.rope);
      } catch (const Error& e) {
        throw e.with_context("--rope '" + s + "'");
      }
      r.label = models[i].name + " | " + rope::format_rope_spec(r.rope) + (r.native ? " (own)" : "");
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

model::LlamaModel& apply_row(std::vector<EvalModel>& models, const EvalRow& row) {
  model::LlamaModel& m = models[static_cast<size_t>(row.model)].loaded.model;
  m.config.rope = row.rope;
  return m;
}

std::vector<TextDocument> read_text_documents(const std::vector<std::string>& paths) {
  data::InputReport report;
  data::TextInputOptions in;
  data::DocumentReader reader(data::expand_inputs(paths, in, report), in);
  std::vector<TextDocument> docs;
  data::Document d;
  while (reader.next(d)) docs.push_back({d.source, std::move(d.text)});
  LONGCTX_CHECK(!docs.empty(), "--text: no usable text in %zu path(s) (first: '%s')", paths.size(),
                paths.empty() ? "" : paths[0].c_str());
  return docs;
}

std::vector<std::vector<int32_t>> tokenize_documents(const std::vector<TextDocument>& docs,
                                                     const io::Tokenizer& tokenizer) {
  std::vector<std::vector<int32_t>> out(docs.size());
#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < docs.size(); ++i) out[i] = tokenizer.encode(docs[i].text);
  return out;
}

ShardDocuments read_shard_documents(const std::string& path) {
  ShardDocuments s;
  s.prefix = fs::is_directory(path) ? (fs::path(path) / "valid").string() : path;
  data::IndexedDataset ds(s.prefix);
  for (int64_t d = 0; d < ds.documents(); ++d) {
    s.tokens.push_back(ds.document(d));
    s.sources.push_back(s.prefix + "#" + std::to_string(d));
  }
  LONGCTX_CHECK(!s.tokens.empty(), "--data '%s': the shard holds no documents", path.c_str());
  return s;
}

SampleSet cut_samples(const std::vector<std::vector<int32_t>>& documents, int64_t size,
                      int64_t max_samples) {
  LONGCTX_CHECK(size >= 1 && max_samples >= 1, "cut_samples: size %lld, max_samples %lld",
                static_cast<long long>(size), static_cast<long long>(max_samples));
  SampleSet set;
  int64_t most_pieces = 0;
  for (const auto& d : documents) {
    const int64_t n = static_cast<int64_t>(d.size());
    set.longest_document = std::max(set.longest_document, n);
    if (n < size) ++set.documents_too_short;
    most_pieces = std::max(most_pieces, n / size);
  }
  for (int64_t k = 0; k < most_pieces; ++k)
    for (size_t doc = 0; doc < documents.size(); ++doc) {
      if (static_cast<int64_t>(set.samples.size()) >= max_samples) return set;
      const auto& d = documents[doc];
      if (static_cast<int64_t>(d.size()) / size <= k) continue;
      Sample s;
      s.doc = static_cast<int64_t>(doc);
      s.offset = k * size;
      s.tokens.assign(d.begin() + s.offset, d.begin() + s.offset + size);
      set.samples.push_back(std::move(s));
    }
  return set;
}

}  // namespace longctx::eval
