// What an evaluation reads: models (GGUF file, Hugging Face folder, or a training run folder
// whose final/ is a Hugging Face folder), the rows to evaluate (model x position encoding),
// and documents (text files / folders, or token shards) cut into samples.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/model_io.h"
#include "rope/rope_spec.h"

namespace longctx::eval {

// A run folder (no config.json, but final/config.json) -> RUN/final; anything else as given.
std::string resolve_model_path(const std::string& path);

struct EvalModel {
  std::string path;          // as given
  std::string resolved;      // what was loaded
  std::string name;          // short label: file or folder name (run folder name for runs)
  io::LoadedModel loaded;    // loaded.model.config.rope is switched per row
  rope::RopeSpec native_rope;
  int64_t trained_length = 0;  // config.max_seq_len as the file states it
  size_t weight_bytes() const { return loaded.model.params.size() * sizeof(float); }
  const io::Tokenizer& tokenizer() const;  // Error naming the model when it has none
};
// tokenizer_override: a SentencePiece .model used instead of the model's own ("" = own).
EvalModel load_eval_model(const std::string& path, const std::string& tokenizer_override = "");

// One evaluated row: a model under one position encoding.
struct EvalRow {
  int model = 0;             // index into the loaded models
  rope::RopeSpec rope;
  bool native = true;        // the model's own encoding (no --rope override)
  bool baseline = false;     // the --baseline model
  std::string label;         // "<model name> | <rope spec>" (or "<name>" when native)
  nlohmann::json to_json(const EvalModel& model) const;  // model: the row's model
};
// Every model under every --rope spec ("model" or "native" = its own encoding); no specs =
// each model's own encoding. Specs are parsed here (Error names --rope).
std::vector<EvalRow> make_rows(const std::vector<EvalModel>& models,
                               const std::vector<std::string>& rope_specs);
// Sets the row's encoding on its model (the weights are shared by the rows of one model).
model::LlamaModel& apply_row(std::vector<EvalModel>& models, const EvalRow& row);

struct TextDocument {
  std::string source;
  std::string text;
};
// Files and folders (recursive) through data/text_input.h's reader; Error when none is usable.
std::vector<TextDocument> read_text_documents(const std::vector<std::string>& paths);

// Token documents: from text with a tokenizer (no BOS/EOS), or from a token shard.
std::vector<std::vector<int32_t>> tokenize_documents(const std::vector<TextDocument>& docs,
                                                     const io::Tokenizer& tokenizer);
// `path` is a shard prefix (<path>.idx) or a prepared folder (its valid split).
struct ShardDocuments {
  std::string prefix;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> sources;  // "prefix#doc"
};
ShardDocuments read_shard_documents(const std::string& path);

// A piece of one document (ppl_rules.h): tokens [offset, offset + size) of document `doc`.
struct Sample {
  int64_t doc = 0, offset = 0;
  std::vector<int32_t> tokens;
};
struct SampleSet {
  std::vector<Sample> samples;
  int64_t documents_too_short = 0;  // shorter than one sample
  int64_t longest_document = 0;     // tokens
};
// Consecutive, non-overlapping pieces of `size` tokens, round-robin over documents.
SampleSet cut_samples(const std::vector<std::vector<int32_t>>& documents, int64_t size,
                      int64_t max_samples);

}  // namespace longctx::eval
