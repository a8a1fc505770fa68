#include "data/default_corpus.h"

#include <cstdio>
#include <deque>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/tokenizer.h"

namespace longctx::data {
namespace fs = std::filesystem;
namespace {

constexpr char kInstallHint[] = "scripts/install-deps.sh --corpus";

struct SourceSpec {
  const char* name;
  const char* package;
  const char* path;  // relative to the root
};
constexpr SourceSpec kSources[] = {
    {"bible", "bible-kjv bible-kjv-text", "usr/lib/bible.data"},
    {"jargon", "jargon-text", "usr/share/doc/jargon-text/jargon.txt.gz"},
    {"linux-doc", "linux-doc-6.1", "usr/share/doc/linux-doc-6.1/Documentation"},
    {"gcide", "dict-gcide", "usr/share/dictd/gcide.dict.dz"},
    {"debref", "debian-reference-en", "usr/share/debian-reference/debian-reference.en.txt.gz"},
};

std::string rooted(const std::string& root, const std::string& rel) {
  return (fs::path(root) / rel).string();
}

// Runs the bible program and returns its listing of the whole text (wide lines, headers
// "Book N" before each chapter, verses "  N text").
std::string run_bible(const std::string& root) {
  const std::string exe = rooted(root, "usr/bin/bible");
  const std::string data_dir = rooted(root, "usr/lib");
  LONGCTX_CHECK(fs::exists(exe), "bible: '%s' missing (package bible-kjv)", exe.c_str());
  const std::string cmd = "'" + exe + "' -p '" + data_dir + "' -l100000 gen1:1-rev22:21 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  LONGCTX_CHECK(pipe != nullptr, "bible: cannot run '%s'", cmd.c_str());
  std::string out;
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int status = ::pclose(pipe);
  LONGCTX_CHECK(status == 0 && out.size() > 1000000,
                "bible: '%s' failed (status %d, %zu bytes of output)", cmd.c_str(), status,
                out.size());
  return out;
}

// The lines of text (without their '\n') for which keep(line) holds, each ended by '\n'.
template <typename Keep>
std::string keep_lines(const std::string& text, Keep keep) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    if (keep(line)) out.append(line).push_back('\n');
    pos = end + 1;
  }
  return out;
}

// Drops decoration lines made only of box-drawing characters, dashes or equals signs.
std::string drop_rule_lines(const std::string& text) {
  return keep_lines(text, [](std::string_view line) {
    bool rule = line.size() >= 10;
    for (size_t i = 0; rule && i < line.size();) {
      const unsigned char c = static_cast<unsigned char>(line[i]);
      if (c == ' ' || c == '-' || c == '=' || c == '_') {
        ++i;
      } else if (c == 0xE2 && i + 2 < line.size() && static_cast<unsigned char>(line[i + 1]) == 0x95) {
        i += 3;  // U+2550..U+257F box drawing
      } else {
        rule = false;
      }
    }
    return !rule;
  });
}

// Drops reStructuredText licence tags (".. SPDX-License-Identifier: ...") that open most
// kernel documents: boilerplate, and a poor first sentence for retrieval tasks.
std::string drop_license_lines(const std::string& text) {
  std::string out = keep_lines(text, [](std::string_view line) {
    return !line.starts_with(".. SPDX-License-Identifier:");
  });
  const size_t first = out.find_first_not_of('\n');
  return first == std::string::npos ? out : out.substr(first);
}

// Streams the documents of the present sources, in a fixed order.
class CorpusStream {
 public:
  CorpusStream(const DefaultCorpusOptions& options, const std::vector<CorpusSource>& sources)
      : options_(options) {
    for (const auto& s : sources)
      if (s.present) pending_.push_back(s.name);
  }

  bool next(Document& doc) {
    for (;;) {
      if (options_.max_bytes > 0 && bytes_ >= options_.max_bytes) return false;
      if (!queue_.empty()) {
        doc = std::move(queue_.front());
        queue_.pop_front();
        bytes_ += static_cast<int64_t>(doc.text.size());
        return true;
      }
      if (reader_) {
        Document d;
        const bool gcide = reader_group_ == "gcide";
        if ((!gcide || options_.gcide_bytes <= 0 || gcide_bytes_ < options_.gcide_bytes) &&
            reader_->next(d)) {
          d.group = reader_group_;
          if (reader_group_ == "linux-doc") d.text = drop_license_lines(d.text);
          if (gcide) {
            gcide_bytes_ += static_cast<int64_t>(d.text.size());
            d.source = "gcide#" + std::to_string(++gcide_chunks_);
          }
          bytes_ += static_cast<int64_t>(d.text.size());
          doc = std::move(d);
          return true;
        }
        report_.merge(reader_->report());
        reader_.reset();
      }
      if (pending_.empty()) return false;
      load(pending_.front());
      pending_.pop_front();
    }
  }

  const InputReport& report() const { return report_; }

 private:
  void push_whole(const std::string& name, const std::string& path, std::string text) {
    const CleanResult c = clean_text(text, 1 << 20);
    if (c.invalid_utf8 > 0) report_.repair(path, "invalid UTF-8 replaced by U+FFFD");
    ++report_.files;
    ++report_.documents;
    report_.bytes += static_cast<int64_t>(text.size());
    queue_.push_back({drop_rule_lines(text), path, name});
  }

  void load(const std::string& name) {
    const std::string& root = options_.root;
    try {
      if (name == "bible") {
        for (auto& d : split_bible_books(run_bible(root))) {
          ++report_.documents;
          report_.bytes += static_cast<int64_t>(d.text.size());
          queue_.push_back(std::move(d));
        }
        ++report_.files;
      } else if (name == "jargon" || name == "debref") {
        const std::string path = rooted(root, kSources[name == "jargon" ? 1 : 4].path);
        push_whole(name, path, read_maybe_gzip(path));
      } else if (name == "linux-doc" || name == "gcide") {
        TextInputOptions in;
        const std::string path = rooted(root, kSources[name == "gcide" ? 3 : 2].path);
        if (name == "linux-doc") in.include = {"*.rst.gz"};
        if (name == "gcide") in.max_document_bytes = options_.gcide_chunk_bytes;
        InputReport expand;
        auto files = expand_inputs({path}, in, expand);
        report_.merge(expand);
        reader_ = std::make_unique<DocumentReader>(std::move(files), in);
        reader_group_ = name;
      }
    } catch (const Error& e) {
      report_.skip(name, e.what());
      LONGCTX_LOG_WARN("default corpus: skipping %s: %s", name.c_str(), e.what());
    }
  }

  const DefaultCorpusOptions& options_;
  std::deque<std::string> pending_;
  std::deque<Document> queue_;
  std::unique_ptr<DocumentReader> reader_;
  std::string reader_group_;
  InputReport report_;
  int64_t bytes_ = 0, gcide_bytes_ = 0, gcide_chunks_ = 0;
};

}  // namespace

std::vector<Document> split_bible_books(const std::string& listing) {
  std::vector<Document> books;
  std::string book;
  size_t pos = 0;
  while (pos < listing.size()) {
    size_t end = listing.find('\n', pos);
    if (end == std::string::npos) end = listing.size();
    std::string line = listing.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    if (line[0] != ' ') {  // "Song of Solomon 2": book name, then the chapter number
      const size_t space = line.rfind(' ');
      if (space == std::string::npos) continue;
      const std::string name = line.substr(0, space), chapter = line.substr(space + 1);
      if (name != book) {
        book = name;
        books.push_back({book + "\n", "bible:" + book, "bible"});
      }
      books.back().text += "\nChapter " + chapter + "\n";
      continue;
    }
    if (books.empty()) continue;
    // "  12 verse text": drop the verse number, keep one verse per line.
    const size_t first = line.find_first_not_of(' ');
    const size_t after_number = line.find(' ', first);
    if (after_number == std::string::npos) continue;
    books.back().text += line.substr(after_number + 1) + "\n";
  }
  return books;
}

std::vector<CorpusSource> find_corpus_sources(const DefaultCorpusOptions& options) {
  std::vector<CorpusSource> out;
  for (const auto& wanted : options.sources) {
    const SourceSpec* spec = nullptr;
    for (const auto& s : kSources)
      if (wanted == s.name) spec = &s;
    LONGCTX_CHECK(spec != nullptr,
                  "data default: source '%s' unknown (bible, jargon, linux-doc, gcide, debref)",
                  wanted.c_str());
    CorpusSource s{spec->name, spec->package, rooted(options.root, spec->path), false};
    std::error_code ec;
    s.present = fs::exists(s.location, ec);
    if (s.present && s.name == "bible") s.present = fs::exists(rooted(options.root, "usr/bin/bible"));
    out.push_back(s);
  }
  return out;
}

DefaultCorpusResult build_default_corpus(const DefaultCorpusOptions& options) {
  Timer timer;
  DefaultCorpusResult result;
  result.sources = find_corpus_sources(options);
  nlohmann::json missing = nlohmann::json::array();
  int present = 0;
  for (const auto& s : result.sources) {
    if (s.present) {
      ++present;
      continue;
    }
    const std::string hint = strformat("%s not found (%s): install package %s with `%s` or "
                                       "`apt-get install %s`", s.name.c_str(), s.location.c_str(),
                                       s.package.c_str(), kInstallHint, s.package.c_str());
    LONGCTX_LOG_WARN("default corpus: %s; continuing without it", hint.c_str());
    missing.push_back({{"source", s.name}, {"package", s.package}, {"hint", hint}});
  }
  LONGCTX_CHECK(present > 0,
                "data default: none of the corpus sources is installed; run `%s` (or apt-get "
                "install bible-kjv bible-kjv-text jargon-text linux-doc-6.1 dict-gcide "
                "debian-reference-en)", kInstallHint);
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  LONGCTX_CHECK(!ec, "data default: cannot create '%s': %s", options.output_dir.c_str(),
                ec.message().c_str());

  // Pass 1: total size, so the tokenizer sample can take an even share of every source.
  int64_t total = 0;
  {
    CorpusStream stream(options, result.sources);
    Document d;
    while (stream.next(d)) total += static_cast<int64_t>(d.text.size());
  }
  LONGCTX_CHECK(total > 0, "data default: the installed sources gave no text");
  // Pass 2: train the tokenizer on a deterministic sample of lines.
  const double keep = std::min(1.0, static_cast<double>(options.tokenizer_sample_bytes) /
                                        static_cast<double>(total));
  const std::string model_path = (fs::path(options.output_dir) / "tokenizer.model").string();
  io::TokenizerTrainOptions topt = options.tokenizer;
  topt.max_bytes = options.tokenizer_sample_bytes + (1 << 20);
  if (options.threads > 0) topt.num_threads = options.threads;
  result.tokenizer = io::train_tokenizer(
      [&](const std::function<bool(const std::string&)>& emit) {
        CorpusStream stream(options, result.sources);
        Document d;
        uint64_t line_no = 0;
        while (stream.next(d)) {
          size_t pos = 0;
          while (pos < d.text.size()) {
            size_t end = d.text.find('\n', pos);
            if (end == std::string::npos) end = d.text.size();
            const uint64_t h = mix64(options.split.seed ^ mix64(++line_no));
            if (end > pos && static_cast<double>(h >> 11) * 0x1.0p-53 < keep &&
                !emit(d.text.substr(pos, end - pos)))
              return;
            pos = end + 1;
          }
        }
      },
      topt, model_path);
  const io::Tokenizer tokenizer = io::Tokenizer::from_file(model_path);

  // Pass 3: shards.
  PrepareOptions popt;
  popt.output_dir = options.output_dir;
  popt.split = options.split;
  popt.threads = options.threads;
  popt.tokenizer_path = model_path;
  CorpusStream stream(options, result.sources);
  result.prepared = prepare_dataset([&](Document& d) { return stream.next(d); }, tokenizer, popt,
                                    &stream.report());
  result.seconds = timer.seconds();

  nlohmann::json sources = nlohmann::json::array();
  for (const auto& s : result.sources)
    sources.push_back({{"name", s.name}, {"package", s.package}, {"location", s.location},
                       {"present", s.present}});
  result.json = {
      {"output", options.output_dir},
      {"sources", sources},
      {"missing", missing},
      {"tokenizer",
       {{"path", model_path},
        {"vocab_size", tokenizer.vocab_size()},
        {"sample_bytes", result.tokenizer.bytes},
        {"sample_lines", result.tokenizer.sentences},
        {"train_seconds", result.tokenizer.seconds}}},
      {"dataset", result.prepared.json},
      {"seconds", result.seconds},
  };
  write_file_atomically((fs::path(options.output_dir) / "corpus.json").string(),
                        result.json.dump(2) + "\n");
  return result;
}

}  // namespace longctx::data
