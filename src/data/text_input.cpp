#include "data/text_input.h"

#include <fnmatch.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/utf8.h"

namespace longctx::data {
namespace fs = std::filesystem;
namespace {

constexpr size_t kReadChunk = 1 << 20;
constexpr size_t kMaxExamples = 100;

bool is_jsonl_path(const std::string& path) {
  auto ends = [&](const char* suffix) {
    const size_t m = std::strlen(suffix);
    return path.size() >= m && path.compare(path.size() - m, m, suffix) == 0;
  };
  return ends(".jsonl") || ends(".jsonl.gz") || ends(".ndjson") || ends(".ndjson.gz");
}

bool matches_include(const fs::path& path, const fs::path& root,
                     const std::vector<std::string>& include) {
  if (include.empty()) return true;
  const std::string name = path.filename().string();
  const std::string rel = path.lexically_relative(root).string();
  for (const auto& pattern : include)
    if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0 ||
        ::fnmatch(pattern.c_str(), rel.c_str(), FNM_PATHNAME) == 0)
      return true;
  return false;
}

// Where to cut `text` so that the first part has at most `limit` bytes: after the last newline
// in the second half of the window, else at a UTF-8 character start.
size_t cut_point(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text.size();
  const size_t nl = text.rfind('\n', limit - 1);
  if (nl != std::string::npos && nl >= limit / 2) return nl + 1;
  size_t cut = limit;
  while (cut > 0 && utf8_is_continuation(static_cast<unsigned char>(text[cut]))) --cut;
  return cut > 0 ? cut : limit;
}

}  // namespace

void InputReport::skip(const std::string& source, const std::string& reason) {
  ++skipped[reason];
  if (examples.size() < kMaxExamples) examples.emplace_back(source, "skipped: " + reason);
}

void InputReport::repair(const std::string& source, const std::string& reason) {
  ++repaired[reason];
  if (examples.size() < kMaxExamples) examples.emplace_back(source, "repaired: " + reason);
}

void InputReport::merge(const InputReport& o) {
  files += o.files;
  documents += o.documents;
  bytes += o.bytes;
  for (const auto& [k, v] : o.skipped) skipped[k] += v;
  for (const auto& [k, v] : o.repaired) repaired[k] += v;
  for (const auto& e : o.examples)
    if (examples.size() < kMaxExamples) examples.push_back(e);
}

nlohmann::json to_json(const InputReport& r) {
  nlohmann::json examples = nlohmann::json::array();
  for (const auto& [source, reason] : r.examples)
    examples.push_back({{"source", source}, {"what", reason}});
  return {{"files", r.files},       {"documents", r.documents}, {"bytes", r.bytes},
          {"skipped", r.skipped},   {"repaired", r.repaired},   {"examples", examples}};
}

CleanResult clean_text(std::string& text, int64_t max_line_bytes) {
  CleanResult result;
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t line = 0;  // bytes in the current output line
  size_t i = 0;
  if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) i = 3;  // byte-order mark
  while (i < n) {
    const unsigned char c = s[i];
    if (c == '\r') {  // CRLF and lone CR become LF
      out.push_back('\n');
      line = 0;
      i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
      continue;
    }
    if (c == '\n') {
      out.push_back('\n');
      line = 0;
      ++i;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
      ++result.controls_removed;
      ++i;
      continue;
    }
    uint32_t cp;
    size_t len = utf8_decode(s, i, n, &cp);
    const char* bytes = text.data() + i;
    static const char kReplacement[] = "\xEF\xBF\xBD";
    if (len == 0) {
      ++result.invalid_utf8;
      bytes = kReplacement;
      ++i;
      len = 3;
    } else {
      i += len;
    }
    if (static_cast<int64_t>(line + len) > max_line_bytes) {
      out.push_back('\n');
      line = 0;
      ++result.lines_wrapped;
    }
    out.append(bytes, len);
    line += len;
  }
  text.swap(out);
  return result;
}

bool looks_binary(const std::string& bytes) {
  const size_t n = std::min<size_t>(bytes.size(), 8192);
  size_t controls = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == 0) return true;
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1B) ++controls;
  }
  return n > 0 && controls * 10 > n;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       const TextInputOptions& options, InputReport& report) {
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    const auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) {
      report.skip(input, "does not exist or cannot be accessed");
      continue;
    }
    if (fs::is_regular_file(status)) {
      files.push_back(input);
      continue;
    }
    if (!fs::is_directory(status)) {
      report.skip(input, "not a regular file or directory");
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      report.skip(input, "unreadable directory: " + ec.message());
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        report.skip(input, "directory walk error: " + ec.message());
        break;
      }
      std::error_code fec;
      if (!it->is_regular_file(fec) || fec) continue;
      if (matches_include(it->path(), input, options.include)) found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

struct DocumentReader::OpenFile {
  std::string path;
  gzFile gz = nullptr;
  bool jsonl = false;
  bool eof = false;
  bool first_chunk = true;
  std::string buf;  // unread bytes
  int64_t line = 0;
  int part = 0;
  ~OpenFile() {
    if (gz) gzclose(gz);
  }
  // zlib prefixes its messages with the path; reasons are aggregated, so drop it.
  std::string zlib_message(const char* msg) const {
    std::string m = msg ? msg : "unknown zlib error";
    if (m.rfind(path + ": ", 0) == 0) m.erase(0, path.size() + 2);
    return m;
  }
  // Appends up to kReadChunk bytes to buf; sets eof at the end. Returns an error text or "".
  std::string fill() {
    const size_t old = buf.size();
    buf.resize(old + kReadChunk);
    const int got = gzread(gz, buf.data() + old, static_cast<unsigned>(kReadChunk));
    if (got < 0) {
      buf.resize(old);
      int err = 0;
      const char* msg = gzerror(gz, &err);
      eof = true;
      return err == Z_ERRNO ? std::string(std::strerror(errno)) : zlib_message(msg);
    }
    buf.resize(old + static_cast<size_t>(got));
    if (got == 0) {
      eof = true;
      int err = 0;
      const std::string msg = zlib_message(gzerror(gz, &err));
      if (err != Z_OK && err != Z_STREAM_END) return msg;
      // gzread reports a stream cut short only through gzclose (Z_BUF_ERROR).
      const int rc = gzclose(gz);
      gz = nullptr;
      if (rc == Z_BUF_ERROR) return "truncated gzip stream";
      if (rc != Z_OK) return "gzip error " + std::to_string(rc);
    }
    return {};
  }
};

DocumentReader::DocumentReader(std::vector<std::string> files, TextInputOptions options)
    : files_(std::move(files)), options_(std::move(options)) {
  LONGCTX_CHECK(options_.max_document_bytes >= 1024 && options_.max_line_bytes >= 64,
                "text input: max document bytes must be >= 1024 and max line bytes >= 64");
}

DocumentReader::~DocumentReader() = default;

bool DocumentReader::open_next_file() {
  current_.reset();
  while (next_file_ < files_.size()) {
    const std::string& path = files_[next_file_++];
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) {
      report_.skip(path, std::string("unreadable: ") + std::strerror(errno));
      continue;
    }
    gzbuffer(gz, 256 * 1024);
    current_ = std::make_unique<OpenFile>();
    current_->path = path;
    current_->gz = gz;
    current_->jsonl = is_jsonl_path(path);
    ++report_.files;
    return true;
  }
  return false;
}

bool DocumentReader::finish_document(std::string text, const std::string& source, Document& doc) {
  const CleanResult clean = clean_text(text, options_.max_line_bytes);
  if (clean.invalid_utf8 > 0 &&
      static_cast<double>(clean.invalid_utf8) >
          options_.max_invalid_utf8_fraction * static_cast<double>(text.size())) {
    report_.skip(source, "mostly invalid UTF-8 (binary?)");
    return false;
  }
  if (text.find_first_not_of(" \t\n") == std::string::npos) {
    report_.skip(source, "empty");
    return false;
  }
  if (clean.invalid_utf8 > 0) report_.repair(source, "invalid UTF-8 replaced by U+FFFD");
  if (clean.controls_removed > 0) report_.repair(source, "control characters removed");
  if (clean.lines_wrapped > 0) report_.repair(source, "over-long lines wrapped");
  doc.text = std::move(text);
  doc.source = source;
  ++report_.documents;
  report_.bytes += static_cast<int64_t>(doc.text.size());
  return true;
}

bool DocumentReader::next_from_text(Document& doc) {
  OpenFile& f = *current_;
  const size_t limit = static_cast<size_t>(options_.max_document_bytes);
  while (!f.eof && f.buf.size() <= limit) {
    const std::string err = f.fill();
    if (f.first_chunk && !f.buf.empty()) {
      f.first_chunk = false;
      if (looks_binary(f.buf)) {
        report_.skip(f.path, "binary file");
        current_.reset();
        return false;
      }
    }
    if (!err.empty()) {
      report_.skip(f.path, "read error: " + err);
      current_.reset();
      return false;
    }
  }
  if (f.buf.empty()) {
    if (f.part == 0) report_.skip(f.path, "empty");
    current_.reset();
    return false;
  }
  const size_t cut = cut_point(f.buf, limit);
  std::string text = f.buf.substr(0, cut);
  f.buf.erase(0, cut);
  const bool whole = f.part == 0 && f.eof && f.buf.empty();
  const std::string source = whole ? f.path : f.path + "#" + std::to_string(f.part + 1);
  if (f.part == 0 && !whole) report_.repair(f.path, "document cut into parts");
  ++f.part;
  if (f.eof && f.buf.empty()) current_.reset();
  return finish_document(std::move(text), source, doc);
}

bool DocumentReader::next_from_jsonl(Document& doc) {
  OpenFile& f = *current_;
  const size_t limit = static_cast<size_t>(options_.max_document_bytes) * 2;
  for (;;) {
    size_t nl = f.buf.find('\n');
    while (nl == std::string::npos && !f.eof && f.buf.size() <= limit) {
      const std::string err = f.fill();
      if (!err.empty()) {
        report_.skip(f.path, "read error: " + err);
        current_.reset();
        return false;
      }
      nl = f.buf.find('\n');
    }
    if (nl == std::string::npos && f.buf.size() > limit) {
      // An enormous record: drop it up to its newline without holding it all.
      ++f.line;
      report_.skip(f.path + ":" + std::to_string(f.line), "JSONL record too large");
      for (;;) {
        f.buf.clear();
        if (f.eof) break;
        f.fill();
        nl = f.buf.find('\n');
        if (nl != std::string::npos) {
          f.buf.erase(0, nl + 1);
          break;
        }
      }
      continue;
    }
    if (nl == std::string::npos && f.buf.empty()) {
      current_.reset();
      return false;
    }
    const size_t end = nl == std::string::npos ? f.buf.size() : nl;
    std::string line = f.buf.substr(0, end);
    f.buf.erase(0, nl == std::string::npos ? end : end + 1);
    ++f.line;
    const std::string source = f.path + ":" + std::to_string(f.line);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded()) {
      report_.skip(source, "invalid JSON");
      continue;
    }
    if (!record.is_object() || !record.contains(options_.jsonl_field) ||
        !record[options_.jsonl_field].is_string()) {
      report_.skip(source, "no string field '" + options_.jsonl_field + "'");
      continue;
    }
    std::string text = record[options_.jsonl_field].get<std::string>();
    if (text.size() > static_cast<size_t>(options_.max_document_bytes)) {
      text.resize(cut_point(text, static_cast<size_t>(options_.max_document_bytes)));
      report_.repair(source, "JSONL record truncated to the document limit");
    }
    if (finish_document(std::move(text), source, doc)) return true;
  }
}

bool DocumentReader::next(Document& doc) {
  for (;;) {
    if (!current_ && !open_next_file()) return false;
    const bool got = current_->jsonl ? next_from_jsonl(doc) : next_from_text(doc);
    if (got) return true;
  }
}

std::string read_maybe_gzip(const std::string& path, int64_t max_bytes) {
  gzFile gz = gzopen(path.c_str(), "rb");
  LONGCTX_CHECK(gz != nullptr, "opening '%s': %s", path.c_str(), std::strerror(errno));
  std::string out;
  std::vector<char> chunk(kReadChunk);
  for (;;) {
    const int got = gzread(gz, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int err = 0;
      const std::string msg = gzerror(gz, &err);
      gzclose(gz);
      throw_error("reading '%s': %s", path.c_str(), msg.c_str());
    }
    if (got == 0) break;
    out.append(chunk.data(), static_cast<size_t>(got));
    if (static_cast<int64_t>(out.size()) >= max_bytes) {
      out.resize(static_cast<size_t>(max_bytes));
      break;
    }
  }
  const int rc = gzclose(gz);
  LONGCTX_CHECK(rc == Z_OK || static_cast<int64_t>(out.size()) >= max_bytes,
                "reading '%s': %s", path.c_str(),
                rc == Z_BUF_ERROR ? "truncated gzip stream" : "gzip error");
  return out;
}

}  // namespace longctx::data
