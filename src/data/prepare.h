// `longctx data prepare`: documents -> parallel tokenisation -> token shards (train and
// validation, Megatron MMIDIDX layout) + dataset.json with statistics.
//
// Two phases keep memory bounded: (1) documents stream through the tokenizer in batches into a
// temporary shard holding every document, remembering only each document's length. Inside a
// batch every document is cut into segments of about 64 KiB at boundaries proven not to change
// the tokens (io/segmented_encoder.h), and threads share out the segments of all documents, so
// one long book uses every core; the tokens are those of encoding each document whole, the same
// for any thread count. (2) The split is decided from the lengths (seeded random share, plus
// optionally the longest documents) and the documents are copied from the memory-mapped
// temporary shard into train.{bin,idx} and valid.{bin,idx}. Everything is written under
// temporary names and renamed at the end.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/text_input.h"
#include "io/segmented_encoder.h"

namespace longctx::io {
class Tokenizer;
}

namespace longctx::data {

struct SplitOptions {
  double valid_fraction = 0.01;  // seeded random share of documents sent to validation
  int64_t valid_longest = 0;     // additionally, the N longest documents go to validation
  uint64_t seed = 1234;
};

struct PrepareOptions {
  std::string output_dir;
  SplitOptions split;
  int threads = 0;                       // 0 = longctx::num_threads()
  int64_t batch_bytes = 16 << 20;        // text tokenised per parallel batch
  io::SegmentOptions segments;           // how documents are cut for the tokenizer
  int64_t max_documents = 0;             // stop after this many documents (0 = no limit)
  int64_t max_bytes = 0;                 // stop after this many bytes of text (0 = no limit)
  std::string tokenizer_path;            // recorded in dataset.json
};

// Token-length thresholds reported as "documents over N tokens".
inline constexpr int64_t kLengthThresholds[] = {1024, 4096, 16384, 32768, 65536, 131072};

struct SplitStats {
  int64_t documents = 0;
  int64_t tokens = 0;
  int64_t longest = 0;
  std::vector<int64_t> over;  // documents over each kLengthThresholds entry
};

struct PrepareResult {
  SplitStats all, train, valid;
  std::map<std::string, SplitStats> groups;  // per Document::group (when set)
  int64_t bytes = 0;                   // UTF-8 bytes tokenised
  int64_t segments = 0;                // tokenizer calls (documents cut into segments)
  int64_t unproven_cuts = 0;           // cuts made where no safe boundary existed
  double tokenize_seconds = 0;         // phase 1 wall time (read + clean + tokenise + write)
  double total_seconds = 0;
  std::vector<std::pair<int64_t, std::string>> longest_documents;  // (tokens, source), top 10
  InputReport input;
  nlohmann::json json;                 // what dataset.json holds
};

// A stream of documents: fills the argument and returns true, or returns false at the end.
using DocumentSource = std::function<bool(Document&)>;

// Runs both phases and writes <output_dir>/{train,valid}.{bin,idx} and dataset.json.
// `input_report` (may be null) is merged into the result's report (skips found upstream).
PrepareResult prepare_dataset(const DocumentSource& source, const io::Tokenizer& tokenizer,
                              const PrepareOptions& options, const InputReport* input_report);

// Convenience: files / directories / gzip / JSONL through DocumentReader.
PrepareResult prepare_from_inputs(const std::vector<std::string>& inputs,
                                  const TextInputOptions& input_options,
                                  const io::Tokenizer& tokenizer, const PrepareOptions& options);

// Human-readable summary of a result (several lines, for the console).
std::string summarize(const PrepareResult& result);

// Writes `text` to `path` through a temporary file and a rename.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace longctx::data
