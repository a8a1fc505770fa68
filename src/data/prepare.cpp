#include "data/prepare.h"

#include <omp.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <span>

#include "core/error.h"
#include "core/hash.h"
#include "core/threads.h"
#include "core/timer.h"
#include "data/indexed_dataset.h"
#include "io/tokenizer.h"

namespace longctx::data {
namespace fs = std::filesystem;
namespace {

constexpr size_t kTopDocuments = 10;
constexpr int64_t kReleaseTokens = 4 << 20;  // phase 2 drops copied shard pages this often

void add_length(SplitStats& s, int64_t length) {
  if (s.over.empty()) s.over.assign(std::size(kLengthThresholds), 0);
  ++s.documents;
  s.tokens += length;
  s.longest = std::max(s.longest, length);
  for (size_t i = 0; i < std::size(kLengthThresholds); ++i)
    if (length > kLengthThresholds[i]) ++s.over[i];
}

nlohmann::json to_json(const SplitStats& s) {
  nlohmann::json over = nlohmann::json::object();
  for (size_t i = 0; i < std::size(kLengthThresholds); ++i)
    over[std::to_string(kLengthThresholds[i])] = s.over.empty() ? 0 : s.over[i];
  return {{"documents", s.documents},
          {"tokens", s.tokens},
          {"longest_document_tokens", s.longest},
          {"mean_document_tokens", s.documents ? static_cast<double>(s.tokens) / s.documents : 0.0},
          {"documents_over_tokens", over}};
}

void keep_top(std::vector<std::pair<int64_t, std::string>>& top, int64_t length,
              const std::string& source) {
  if (top.size() == kTopDocuments && length <= top.back().first) return;
  top.emplace_back(length, source);
  std::stable_sort(top.begin(), top.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (top.size() > kTopDocuments) top.pop_back();
}

constexpr const char* kUnprovenCut =
    "cut for the tokenizer where no boundary is provably safe (tokens next to the cut may "
    "differ from encoding the text whole)";

// A batch's tokens, segment by segment: document d's segments are
// tokens[first[d]] .. tokens[first[d + 1] - 1], in text order.
struct SegmentedTokens {
  std::vector<size_t> first;                 // (documents + 1,)
  std::vector<std::vector<int32_t>> tokens;  // (segments,) token ids of each segment
};

// Tokenises a batch: every document is cut into segments and threads share out the segments
// of all documents, so one long document keeps every thread busy. What comes out depends on
// the text alone, never on the thread count. Rethrows the first error.
SegmentedTokens tokenize_batch(const std::vector<Document>& docs,
                               const io::SegmentedEncoder& encoder,
                               const io::SegmentOptions& segment_options, int threads,
                               PrepareResult& result) {
  struct Item {
    size_t doc;
    io::TextSegment segment;
  };
  std::vector<Item> items;
  SegmentedTokens out;
  for (size_t d = 0; d < docs.size(); ++d) {
    out.first.push_back(items.size());
    int64_t unproven = 0;
    for (const io::TextSegment& seg : encoder.plan(docs[d].text, segment_options)) {
      items.push_back({d, seg});
      unproven += seg.proven ? 0 : 1;
    }
    if (unproven > 0) result.input.repair(docs[d].source, kUnprovenCut);
    result.unproven_cuts += unproven;
  }
  out.first.push_back(items.size());
  result.segments += static_cast<int64_t>(items.size());

  out.tokens.resize(items.size());
  std::exception_ptr error;
  const int64_t n = static_cast<int64_t>(items.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    try {
      out.tokens[i] = encoder.encode_segment(docs[items[i].doc].text, items[i].segment);
    } catch (...) {
#pragma omp critical(longctx_prepare_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

// Writes document d of a batch to the shard segment by segment (joined as the encoder says),
// releasing each segment's tokens once written. Returns the document's length in tokens.
int64_t write_document(IndexedDatasetWriter& shard, SegmentedTokens& batch, size_t d,
                       const io::SegmentedEncoder& encoder) {
  int64_t length = 0;
  int32_t previous = -1;
  for (size_t k = batch.first[d]; k < batch.first[d + 1]; ++k) {
    std::vector<int32_t>& t = batch.tokens[k];
    const size_t skip = encoder.join_skip(previous, t);
    shard.append_tokens(std::span<const int32_t>(t).subspan(skip));
    length += static_cast<int64_t>(t.size() - skip);
    if (t.size() > skip) previous = t.back();
    std::vector<int32_t>().swap(t);
  }
  shard.end_document();
  return length;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    LONGCTX_CHECK(out.good(), "cannot write '%s'", tmp.c_str());
    out << text;
    out.flush();
    LONGCTX_CHECK(out.good(), "writing '%s' failed", tmp.c_str());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  LONGCTX_CHECK(!ec, "renaming '%s' to '%s': %s", tmp.c_str(), path.c_str(), ec.message().c_str());
}

PrepareResult prepare_dataset(const DocumentSource& source, const io::Tokenizer& tokenizer,
                              const PrepareOptions& options, const InputReport* input_report) {
  LONGCTX_CHECK(!options.output_dir.empty(), "data prepare: --out is required");
  LONGCTX_CHECK(options.split.valid_fraction >= 0 && options.split.valid_fraction < 1,
                "data prepare: --valid-fraction %g outside [0, 1)", options.split.valid_fraction);
  LONGCTX_CHECK(options.split.valid_longest >= 0, "data prepare: --valid-longest must be >= 0");
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  LONGCTX_CHECK(!ec, "data prepare: cannot create output folder '%s': %s",
                options.output_dir.c_str(), ec.message().c_str());

  Timer total;
  PrepareResult result;
  const int threads = options.threads > 0 ? options.threads : num_threads();
  const TokenDType dtype = token_dtype_for_vocab(tokenizer.vocab_size());
  const io::SegmentedEncoder encoder(tokenizer);
  const std::string all_prefix = (fs::path(options.output_dir) / ".all-documents").string();

  // Phase 1: stream, tokenise, append everything to the temporary shard.
  struct RemoveOnExit {
    std::string prefix;
    ~RemoveOnExit() {
      std::remove((prefix + ".bin").c_str());
      std::remove((prefix + ".idx").c_str());
    }
  } remove_all{all_prefix};
  std::vector<int64_t> lengths;
  {
    IndexedDatasetWriter all(all_prefix, dtype);
    std::vector<Document> batch;
    int64_t batch_bytes = 0;
    bool more = true;
    auto flush = [&] {
      SegmentedTokens tokens = tokenize_batch(batch, encoder, options.segments, threads, result);
      for (size_t i = 0; i < batch.size(); ++i) {
        const int64_t len = write_document(all, tokens, i, encoder);
        lengths.push_back(len);
        add_length(result.all, len);
        if (!batch[i].group.empty()) add_length(result.groups[batch[i].group], len);
        keep_top(result.longest_documents, len, batch[i].source);
      }
      batch.clear();
      batch_bytes = 0;
    };
    while (more) {
      if (options.max_documents > 0 &&
          static_cast<int64_t>(lengths.size() + batch.size()) >= options.max_documents)
        break;
      if (options.max_bytes > 0 && result.bytes >= options.max_bytes) break;
      Document doc;
      more = source(doc);
      if (more) {
        result.bytes += static_cast<int64_t>(doc.text.size());
        batch_bytes += static_cast<int64_t>(doc.text.size());
        batch.push_back(std::move(doc));
      }
      if (!batch.empty() && (!more || batch_bytes >= options.batch_bytes)) flush();
    }
    if (!batch.empty()) flush();
    all.finish();
  }
  result.tokenize_seconds = total.seconds();
  if (input_report) result.input.merge(*input_report);
  LONGCTX_CHECK(!lengths.empty(), "data prepare: no usable documents in the inputs (%s)",
                to_json(result.input).dump().c_str());

  // Phase 2: choose the split, copy documents into train/valid shards.
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<uint8_t> to_valid(static_cast<size_t>(n), 0);
  const uint64_t threshold =
      static_cast<uint64_t>(options.split.valid_fraction * 18446744073709551615.0);
  for (int64_t d = 0; d < n; ++d)
    if (options.split.valid_fraction > 0 &&
        mix64(options.split.seed ^ mix64(static_cast<uint64_t>(d))) < threshold)
      to_valid[d] = 1;
  if (options.split.valid_longest > 0) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t d = 0; d < n; ++d) order[d] = d;
    const int64_t k = std::min(options.split.valid_longest, n - 1);  // keep >= 1 for training
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
      return lengths[a] != lengths[b] ? lengths[a] > lengths[b] : a < b;
    });
    for (int64_t i = 0; i < k; ++i) to_valid[order[i]] = 1;
  }
  {
    IndexedDataset all(all_prefix);
    IndexedDatasetWriter train((fs::path(options.output_dir) / "train").string(), dtype);
    IndexedDatasetWriter valid((fs::path(options.output_dir) / "valid").string(), dtype);
    std::vector<int32_t> buf;
    int64_t read_since_release = 0;
    for (int64_t d = 0; d < n; ++d) {
      buf.resize(static_cast<size_t>(all.document_length(d)));
      all.read(d, 0, static_cast<int64_t>(buf.size()), buf.data());
      (to_valid[d] ? valid : train).add_document(buf);
      add_length(to_valid[d] ? result.valid : result.train, static_cast<int64_t>(buf.size()));
      // The mapped pages already copied would otherwise stay resident: RSS would grow with
      // the corpus.
      read_since_release += static_cast<int64_t>(buf.size());
      if (read_since_release >= kReleaseTokens) {
        all.release_before(d + 1);
        read_since_release = 0;
      }
    }
    train.finish();
    valid.finish();
  }
  result.total_seconds = total.seconds();

  const double secs = std::max(result.tokenize_seconds, 1e-9);
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& [name, st] : result.groups) groups[name] = to_json(st);
  nlohmann::json longest = nlohmann::json::array();
  for (const auto& [len, src] : result.longest_documents)
    longest.push_back({{"tokens", len}, {"source", src}});
  result.json = {
      {"format", "megatron-mmidx-v1"},
      {"token_dtype", dtype == TokenDType::kUInt16 ? "uint16" : "int32"},
      {"shards", {{"train", "train"}, {"valid", "valid"}}},
      {"tokenizer",
       {{"path", options.tokenizer_path},
        {"vocab_size", tokenizer.vocab_size()},
        {"bos_id", tokenizer.bos_id()},
        {"eos_id", tokenizer.eos_id()},
        {"pad_id", tokenizer.pad_id()}}},
      {"split",
       {{"valid_fraction", options.split.valid_fraction},
        {"valid_longest", options.split.valid_longest},
        {"seed", options.split.seed}}},
      {"bytes", result.bytes},
      {"all", to_json(result.all)},
      {"train", to_json(result.train)},
      {"valid", to_json(result.valid)},
      {"longest_documents", longest},
      {"groups", groups},
      {"throughput",
       {{"threads", threads},
        {"tokenize_seconds", result.tokenize_seconds},
        {"total_seconds", result.total_seconds},
        {"mb_per_second", static_cast<double>(result.bytes) / 1e6 / secs},
        {"tokens_per_second", static_cast<double>(result.all.tokens) / secs}}},
      {"segments",
       {{"target_bytes", options.segments.target_bytes},
        {"max_bytes", options.segments.max_bytes},
        {"segments", result.segments},
        {"unproven_cuts", result.unproven_cuts},
        {"cuts_provable", encoder.can_prove_cuts()},
        {"why_not_provable", encoder.unprovable_reason()}}},
      {"input", to_json(result.input)},
  };
  write_file_atomically((fs::path(options.output_dir) / "dataset.json").string(),
                        result.json.dump(2) + "\n");
  return result;
}

PrepareResult prepare_from_inputs(const std::vector<std::string>& inputs,
                                  const TextInputOptions& input_options,
                                  const io::Tokenizer& tokenizer, const PrepareOptions& options) {
  InputReport expand_report;
  std::vector<std::string> files = expand_inputs(inputs, input_options, expand_report);
  DocumentReader reader(std::move(files), input_options);
  reader.report().merge(expand_report);
  return prepare_dataset([&](Document& d) { return reader.next(d); }, tokenizer, options,
                         &reader.report());
}

std::string summarize(const PrepareResult& r) {
  std::string s;
  auto line = [&](const char* name, const SplitStats& st) {
    s += strformat("  %-6s %8" PRId64 " documents %11" PRId64 " tokens  longest %" PRId64
                   "  over 4k/16k/32k: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
                   name, st.documents, st.tokens, st.longest, st.over.empty() ? 0 : st.over[1],
                   st.over.empty() ? 0 : st.over[2], st.over.empty() ? 0 : st.over[3]);
  };
  line("all", r.all);
  line("train", r.train);
  line("valid", r.valid);
  const double secs = std::max(r.tokenize_seconds, 1e-9);
  s += strformat("  %.1f MB in %.2f s: %.2f MB/s, %.0f tokens/s (total %.2f s)\n",
                 static_cast<double>(r.bytes) / 1e6, r.tokenize_seconds,
                 static_cast<double>(r.bytes) / 1e6 / secs,
                 static_cast<double>(r.all.tokens) / secs, r.total_seconds);
  int64_t skipped = 0, repaired = 0;
  for (const auto& [k, v] : r.input.skipped) skipped += v;
  for (const auto& [k, v] : r.input.repaired) repaired += v;
  s += strformat("  %" PRId64 " tokenizer segments, %" PRId64 " cut where no boundary is provably "
                 "safe\n", r.segments, r.unproven_cuts);
  s += strformat("  inputs: %" PRId64 " files, %" PRId64 " skipped, %" PRId64 " repaired\n",
                 r.input.files, skipped, repaired);
  for (const auto& [k, v] : r.input.skipped)
    s += strformat("    skipped %" PRId64 ": %s\n", v, k.c_str());
  for (const auto& [k, v] : r.input.repaired)
    s += strformat("    repaired %" PRId64 ": %s\n", v, k.c_str());
  return s;
}

}  // namespace longctx::data
