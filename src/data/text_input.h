// Turning inputs (text files, directories, gzip files, JSONL) into a stream of cleaned
// documents. Each file, or each JSONL record, is one document. Streaming: one file or record
// is in memory at a time, and a document is cut at max_document_bytes (on a line boundary),
// so memory stays bounded whatever the corpus size. Bad input is skipped or repaired and
// counted, never fatal.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace longctx::data {

struct TextInputOptions {
  std::vector<std::string> include;        // fnmatch patterns for files found in directories
                                           // (empty = every file); explicit files always count
  std::string jsonl_field = "text";        // the text field of JSONL records
  int64_t max_document_bytes = 8 << 20;    // longer documents are cut into parts (line boundary)
  int64_t max_line_bytes = 1 << 20;        // longer lines are wrapped (a newline inserted)
  double max_invalid_utf8_fraction = 0.1;  // above this a file is treated as binary and skipped
};

struct Document {
  std::string text;    // valid UTF-8, LF line ends, no NUL or other C0 controls but \t \n
  std::string source;  // "path", "path:line" for JSONL records, "path#2" for cut parts
  std::string group;   // optional: statistics are also reported per group (e.g. corpus source)
};

// Counts of what was skipped or repaired, with the first examples of each.
struct InputReport {
  int64_t files = 0;           // inputs opened
  int64_t documents = 0;       // documents produced
  int64_t bytes = 0;           // bytes of text produced (after cleaning)
  std::map<std::string, int64_t> skipped;   // reason -> count (documents or files dropped)
  std::map<std::string, int64_t> repaired;  // reason -> count (documents kept after repair)
  std::vector<std::pair<std::string, std::string>> examples;  // (source, reason), first 100
  void skip(const std::string& source, const std::string& reason);
  void repair(const std::string& source, const std::string& reason);
  void merge(const InputReport& other);
};
nlohmann::json to_json(const InputReport& report);

// Cleans text in place: replaces invalid UTF-8 with U+FFFD, CRLF/CR with LF, drops NUL and
// C0 controls other than tab and newline, wraps lines longer than max_line_bytes. Returns the
// number of invalid UTF-8 sequences replaced; the other repairs are reported through flags.
struct CleanResult {
  int64_t invalid_utf8 = 0;
  int64_t controls_removed = 0;
  int64_t lines_wrapped = 0;
};
CleanResult clean_text(std::string& text, int64_t max_line_bytes);

// True when the bytes look binary (NUL bytes, or many non-text control bytes).
bool looks_binary(const std::string& bytes);

// Expands the inputs (files and directories, recursively, sorted by path for determinism) into
// the list of files to read. Unreadable paths are recorded in `report`, not thrown.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       const TextInputOptions& options, InputReport& report);

// Reads documents one at a time from the expanded file list.
class DocumentReader {
 public:
  DocumentReader(std::vector<std::string> files, TextInputOptions options);
  ~DocumentReader();
  // Fills `doc` with the next document; false when the inputs are exhausted.
  bool next(Document& doc);
  const InputReport& report() const { return report_; }
  InputReport& report() { return report_; }

 private:
  struct OpenFile;
  bool open_next_file();
  bool next_from_text(Document& doc);
  bool next_from_jsonl(Document& doc);
  bool finish_document(std::string text, const std::string& source, Document& doc);

  std::vector<std::string> files_;
  TextInputOptions options_;
  size_t next_file_ = 0;
  std::unique_ptr<OpenFile> current_;
  InputReport report_;
};

// Reads a whole (optionally gzip-compressed) file up to max_bytes; throws Error naming it.
std::string read_maybe_gzip(const std::string& path, int64_t max_bytes = INT64_MAX);

}  // namespace longctx::data
