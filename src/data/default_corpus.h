// `longctx data default`: the built-in corpus from Debian text packages.
//   bible      bible-kjv (+ bible-kjv-text): the King James Bible, one document per book
//   jargon     jargon-text: the Jargon File, one document
//   linux-doc  linux-doc-6.1: Documentation/**/*.rst.gz, one document per file
//   gcide      dict-gcide: the GCIDE dictionary, bulk text cut into chunks at entry boundaries
//   debref     debian-reference-en: the Debian Reference, one document
// Missing sources are named with the package and the command to install them, and skipped;
// the build fails only when none is present. Then: a SentencePiece BPE tokenizer is trained on
// a sample, the documents are prepared into shards with a long-document validation set, and
// corpus.json reports what was built.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/prepare.h"
#include "io/tokenizer_train.h"

namespace longctx::data {

struct CorpusSource {
  std::string name;      // bible, jargon, linux-doc, gcide, debref
  std::string package;   // Debian package(s) providing it
  std::string location;  // file, folder or command looked for
  bool present = false;
};

struct DefaultCorpusOptions {
  std::string output_dir = "data/default";
  std::vector<std::string> sources = {"bible", "jargon", "linux-doc", "gcide", "debref"};
  std::string root = "/";             // prefix for the Debian paths (tests point it elsewhere)
  int64_t gcide_bytes = 8 << 20;      // dictionary text used (it is 40 MB; 0 = all)
  int64_t gcide_chunk_bytes = 64 << 10;
  int64_t max_bytes = 0;              // overall cap on corpus text (0 = everything found)
  int64_t tokenizer_sample_bytes = 12 << 20;
  io::TokenizerTrainOptions tokenizer;  // vocab 4096 by default (the "tiny" preset's)
  SplitOptions split{0.01, 8, 1234};    // 1% random + the 8 longest documents to validation
  int threads = 0;
};

// Which sources exist under options.root.
std::vector<CorpusSource> find_corpus_sources(const DefaultCorpusOptions& options);

struct DefaultCorpusResult {
  std::vector<CorpusSource> sources;
  PrepareResult prepared;
  io::TokenizerTrainStats tokenizer;
  double seconds = 0;
  nlohmann::json json;  // corpus.json
};

DefaultCorpusResult build_default_corpus(const DefaultCorpusOptions& options);

// Cuts the `bible -l<wide>` listing into one document per book (exposed for tests).
std::vector<Document> split_bible_books(const std::string& listing);

}  // namespace longctx::data
