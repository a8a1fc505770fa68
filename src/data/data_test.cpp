// Token shards, prepare (round trip, split, statistics), bad input, tokenizer training.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "data/indexed_dataset.h"
#include "data/prepare.h"
#include "data/test_support.h"
#include "data/text_input.h"

namespace longctx::data {
namespace {
namespace fs = std::filesystem;
using testing::read_bytes;
using testing::synthetic_text;
using testing::temp_dir;
using testing::test_tokenizer;
using testing::write_text;


void write_gzip(const fs::path& path, const std::string& text) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
}

TEST(TokenizerTrain, TrainsBpeWithByteFallback) {
  const auto& tok = test_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  // A character never seen in training falls back to its UTF-8 bytes and decodes back.
  const std::string text = "The river \xE2\x82\xAC";
  const auto ids = tok.encode(text);
  std::string bytes;
  for (int32_t id : ids)
    if (tok.is_byte(id)) bytes += tok.piece(id);
  EXPECT_EQ(bytes, "<0xE2><0x82><0xAC>");
  EXPECT_EQ(tok.decode(ids), text);
  // Merges were learnt: common words take fewer tokens than characters.
  EXPECT_LT(tok.encode("the mountain and the river").size(), 12u);
}

TEST(TokenizerTrain, RejectsBadOptions) {
  io::TokenizerTrainOptions opt;
  opt.vocab_size = 100;
  const auto dir = temp_dir("badopt");
  EXPECT_THROW(io::train_tokenizer([](const auto& emit) { emit("hello"); }, opt,
                                   (dir / "m.model").string()),
               Error);
  opt.vocab_size = 512;
  EXPECT_THROW(io::train_tokenizer([](const auto&) {}, opt, (dir / "m.model").string()), Error);
  EXPECT_FALSE(fs::exists(dir / "m.model"));
}

TEST(IndexedDataset, RoundTripAndByteLayout) {
  const auto dir = temp_dir("idx");
  for (TokenDType dtype : {TokenDType::kUInt16, TokenDType::kInt32}) {
    const std::string prefix = (dir / (dtype == TokenDType::kUInt16 ? "u16" : "i32")).string();
    std::vector<std::vector<int32_t>> docs = {{5, 6, 7}, {}, {65535, 0, 1, 2}, {9}};
    if (dtype == TokenDType::kInt32) docs[2][0] = 1 << 20;
    {
      IndexedDatasetWriter w(prefix, dtype);
      for (const auto& d : docs) w.add_document(d);
      w.finish();
    }
    const std::string idx = read_bytes(prefix + ".idx");
    ASSERT_EQ(idx.size(), 34u + 4 * 12 + 5 * 8);
    EXPECT_EQ(std::memcmp(idx.data(), "MMIDIDX\0\0", 9), 0);
    uint64_t version, seqs, doc_entries;
    std::memcpy(&version, idx.data() + 9, 8);
    std::memcpy(&seqs, idx.data() + 18, 8);
    std::memcpy(&doc_entries, idx.data() + 26, 8);
    EXPECT_EQ(version, 1u);
    EXPECT_EQ(static_cast<uint8_t>(idx[17]), dtype == TokenDType::kUInt16 ? 8 : 4);
    EXPECT_EQ(seqs, 4u);
    EXPECT_EQ(doc_entries, 5u);
    int64_t pointer2;  // byte offset of document 2 = 3 tokens
    std::memcpy(&pointer2, idx.data() + 34 + 16 + 16, 8);
    EXPECT_EQ(pointer2, 3 * token_dtype_bytes(dtype));
    EXPECT_EQ(read_bytes(prefix + ".bin").size(), 8u * token_dtype_bytes(dtype));

    IndexedDataset ds(prefix);
    ASSERT_EQ(ds.documents(), 4);
    EXPECT_EQ(ds.total_tokens(), 8);
    for (size_t d = 0; d < docs.size(); ++d) EXPECT_EQ(ds.document(d), docs[d]);
    int32_t two[2];
    ds.read(2, 1, 2, two);
    EXPECT_EQ(two[0], 0);
    EXPECT_EQ(two[1], 1);
    EXPECT_THROW(ds.read(2, 3, 2, two), Error);
  }
}

// Documents written in pieces give the same files as whole ones; pages handed back with
// release_before read back unchanged.
TEST(IndexedDataset, StreamedDocumentsAndReleasedPagesReadBack) {
  const auto dir = temp_dir("idx-stream");
  std::vector<int32_t> big(3 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<int32_t>((i * 7919) % 65000);
  {
    IndexedDatasetWriter whole((dir / "whole").string(), TokenDType::kUInt16);
    IndexedDatasetWriter parts((dir / "parts").string(), TokenDType::kUInt16);
    whole.add_document(big);
    whole.add_document({});
    whole.add_document(std::vector<int32_t>{4, 5});
    const std::span<const int32_t> b(big);
    parts.append_tokens(b.first(1000));
    parts.append_tokens({});
    parts.append_tokens(b.subspan(1000));
    parts.end_document();
    parts.end_document();
    parts.append_tokens(std::vector<int32_t>{4});
    parts.append_tokens(std::vector<int32_t>{5});
    parts.end_document();
    whole.finish();
    parts.finish();
  }
  EXPECT_EQ(read_bytes(dir / "whole.bin"), read_bytes(dir / "parts.bin"));
  EXPECT_EQ(read_bytes(dir / "whole.idx"), read_bytes(dir / "parts.idx"));
  const IndexedDataset ds((dir / "parts").string());
  EXPECT_EQ(ds.document(0), big);
  ds.release_before(3);
  EXPECT_EQ(ds.document(0), big);
  EXPECT_EQ(ds.document(2), (std::vector<int32_t>{4, 5}));
  EXPECT_THROW(ds.release_before(4), Error);
  IndexedDatasetWriter open((dir / "open").string(), TokenDType::kInt32);
  open.append_tokens(std::vector<int32_t>{1});
  EXPECT_THROW(open.finish(), Error);
}

TEST(IndexedDataset, RejectsCorruptFiles) {
  const auto dir = temp_dir("corrupt");
  const std::string prefix = (dir / "s").string();
  {
    IndexedDatasetWriter w(prefix, TokenDType::kUInt16);
    w.add_document(std::vector<int32_t>{1, 2, 3});
    w.finish();
  }
  const std::string good_idx = read_bytes(prefix + ".idx");
  const std::string good_bin = read_bytes(prefix + ".bin");
  write_text(prefix + ".idx", good_idx.substr(0, 20));
  EXPECT_THROW(IndexedDataset{prefix}, Error);
  std::string bad = good_idx;
  bad[0] = 'X';
  write_text(prefix + ".idx", bad);
  EXPECT_THROW(IndexedDataset{prefix}, Error);
  bad = good_idx;
  bad[18] = 100;  // sequence count disagrees with the file size
  write_text(prefix + ".idx", bad);
  EXPECT_THROW(IndexedDataset{prefix}, Error);
  write_text(prefix + ".idx", good_idx);
  write_text(prefix + ".bin", good_bin.substr(0, 4));  // truncated tokens
  EXPECT_THROW(IndexedDataset{prefix}, Error);
  EXPECT_THROW(IndexedDataset{(dir / "absent").string()}, Error);
}

TEST(IndexedDataset, UnfinishedWriterLeavesNothing) {
  const auto dir = temp_dir("unfinished");
  {
    IndexedDatasetWriter w((dir / "s").string(), TokenDType::kUInt16);
    w.add_document(std::vector<int32_t>{1, 2});
  }
  EXPECT_TRUE(fs::is_empty(dir));
  IndexedDatasetWriter w((dir / "t").string(), TokenDType::kUInt16);
  EXPECT_THROW(w.add_document(std::vector<int32_t>{70000}), Error);
}

TEST(TextInput, CleanRepairsAndWraps) {
  std::string s = "a\r\nb\rc\x01" "d\xFF" "e\xC0\xAF" "f";
  const CleanResult r = clean_text(s, 1 << 20);
  EXPECT_EQ(s, "a\nb\ncd\xEF\xBF\xBD" "e\xEF\xBF\xBD\xEF\xBF\xBD" "f");
  EXPECT_EQ(r.invalid_utf8, 3);
  EXPECT_EQ(r.controls_removed, 1);
  std::string longline(1000, 'x');
  EXPECT_EQ(clean_text(longline, 300).lines_wrapped, 3);
  EXPECT_EQ(std::count(longline.begin(), longline.end(), '\n'), 3);
  std::string multibyte;
  for (int i = 0; i < 100; ++i) multibyte += "\xC3\xA9";  // wraps between characters only
  clean_text(multibyte, 65);
  for (size_t i = 0; i < multibyte.size();) {
    if (multibyte[i] == '\n') { ++i; continue; }
    ASSERT_EQ(multibyte.compare(i, 2, "\xC3\xA9"), 0) << i;
    i += 2;
  }
}

// Text -> shards -> the same token ids as encoding each document directly.
TEST(Prepare, ShardsRoundTripDirectEncoding) {
  const auto dir = temp_dir("roundtrip");
  const auto in = dir / "in";
  fs::create_directories(in / "sub");
  std::vector<std::string> expected_texts;  // in the reader's order: sorted paths
  write_text(in / "a.txt", synthetic_text(1, 3000));
  write_gzip(in / "b.txt.gz", synthetic_text(2, 5000));
  write_text(in / "c.jsonl", "{\"text\": \"First record. Second sentence.\", \"id\": 1}\n"
                             "{\"body\": \"other field\", \"text\": \"Another record here.\"}\n");
  write_text(in / "sub" / "d.txt", synthetic_text(3, 20000));
  write_text(in / "sub" / "skip.md", "not included");
  expected_texts = {synthetic_text(1, 3000), synthetic_text(2, 5000),
                    "First record. Second sentence.", "Another record here.",
                    synthetic_text(3, 20000)};
  TextInputOptions iopt;
  iopt.include = {"*.txt", "*.txt.gz", "*.jsonl"};
  PrepareOptions popt;
  popt.output_dir = (dir / "out").string();
  popt.split.valid_fraction = 0;
  popt.split.valid_longest = 1;
  popt.threads = 2;
  popt.batch_bytes = 4000;  // several batches
  const auto result = prepare_from_inputs({in.string()}, iopt, test_tokenizer(), popt);
  EXPECT_EQ(result.all.documents, 5);
  EXPECT_EQ(result.valid.documents, 1);
  IndexedDataset train((dir / "out" / "train").string()), valid((dir / "out" / "valid").string());
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : expected_texts) expected.push_back(test_tokenizer().encode(t));
  // The longest (d.txt) went to validation; the rest keep their order in train.
  ASSERT_EQ(valid.documents(), 1);
  EXPECT_EQ(valid.document(0), expected[4]);
  ASSERT_EQ(train.documents(), 4);
  for (int d = 0; d < 4; ++d) EXPECT_EQ(train.document(d), expected[d]) << d;
  int64_t tokens = 0;
  for (const auto& e : expected) tokens += static_cast<int64_t>(e.size());
  EXPECT_EQ(result.all.tokens, tokens);
  EXPECT_EQ(result.json["all"]["tokens"].get<int64_t>(), tokens);
  EXPECT_GT(result.json["throughput"]["tokens_per_second"].get<double>(), 0);
  EXPECT_TRUE(fs::exists(dir / "out" / "dataset.json"));
  for (const auto& e : fs::directory_iterator(dir / "out"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_FALSE(fs::exists(dir / "out" / ".all-documents.bin"));
}

TEST(Prepare, SplitIsSeededAndHistogramCounts) {
  const auto dir = temp_dir("split");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(synthetic_text(100 + i, 50 + 40 * (i % 7)));
  auto run = [&](uint64_t seed, const std::string& name) {
    size_t next = 0;
    PrepareOptions popt;
    popt.output_dir = (dir / name).string();
    popt.split = {0.25, 0, seed};
    return prepare_dataset(
        [&](Document& d) {
          if (next == texts.size()) return false;
          d = {texts[next], "t" + std::to_string(next), ""};
          ++next;
          return true;
        },
        test_tokenizer(), popt, nullptr);
  };
  const auto a = run(1, "a"), b = run(1, "b"), c = run(2, "c");
  EXPECT_EQ(a.valid.documents, b.valid.documents);
  EXPECT_EQ(read_bytes(dir / "a" / "valid.bin"), read_bytes(dir / "b" / "valid.bin"));
  EXPECT_NE(read_bytes(dir / "a" / "valid.bin"), read_bytes(dir / "c" / "valid.bin"));
  EXPECT_GT(a.valid.documents, 25);  // 25% of 200, binomial sd ~6
  EXPECT_LT(a.valid.documents, 75);
  EXPECT_EQ(a.train.documents + a.valid.documents, 200);
  int64_t over = 0;
  for (const auto& t : texts) over += test_tokenizer().encode(t).size() > 1024;
  EXPECT_EQ(a.all.over[0], over);  // kLengthThresholds[0] = 1024
}

TEST(Prepare, BadInputsAreSkippedOrRepairedNeverFatal) {
  const auto dir = temp_dir("bad");
  const auto in = dir / "in";
  fs::create_directories(in);
  write_text(in / "good.txt", synthetic_text(5, 2000));
  write_text(in / "empty.txt", "");
  write_text(in / "blank.txt", "  \n\n\t \n");
  std::string binary = "ELF";
  binary += std::string(100, '\0');
  write_text(in / "binary.bin", binary);
  write_text(in / "latin1.txt", "Caf\xE9 au lait. Cr\xE8me br\xFBl\xE9" "e.\n" +
                                    synthetic_text(9, 500));  // a little invalid UTF-8
  std::string garbage;
  for (int i = 0; i < 2000; ++i) garbage += static_cast<char>(0x80 + (i * 37) % 64);
  write_text(in / "garbage.txt", garbage);  // almost all invalid UTF-8
  write_text(in / "longline.txt", std::string(3 << 16, 'y'));  // one enormous line
  write_text(in / "bad.jsonl", "{\"text\": \"ok record.\"}\nnot json\n{\"text\": 5}\n\n");
  std::string gz = synthetic_text(6, 40000);
  write_gzip(in / "trunc.txt.gz", gz);
  const std::string gzbytes = read_bytes(in / "trunc.txt.gz");
  write_text(in / "trunc.txt.gz", gzbytes.substr(0, gzbytes.size() / 2));
  TextInputOptions iopt;
  iopt.max_document_bytes = 1 << 16;
  iopt.max_line_bytes = 10000;
  PrepareOptions popt;
  popt.output_dir = (dir / "out").string();
  popt.split.valid_fraction = 0;
  const auto r = prepare_from_inputs({in.string(), (dir / "missing.txt").string()}, iopt,
                                     test_tokenizer(), popt);
  const auto& skipped = r.input.skipped;
  const auto& repaired = r.input.repaired;
  auto count = [](const std::map<std::string, int64_t>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? int64_t{0} : it->second;
  };
  EXPECT_EQ(count(skipped, "empty"), 2);
  EXPECT_EQ(count(skipped, "binary file"), 1);
  EXPECT_EQ(count(skipped, "mostly invalid UTF-8 (binary?)"), 1);
  EXPECT_EQ(count(skipped, "does not exist or cannot be accessed"), 1);
  EXPECT_EQ(count(skipped, "invalid JSON"), 1);
  EXPECT_EQ(count(skipped, "no string field 'text'"), 1);
  EXPECT_EQ(count(repaired, "invalid UTF-8 replaced by U+FFFD"), 1);
  EXPECT_EQ(count(repaired, "over-long lines wrapped"), 3);  // 192 KB line cut into 3 parts
  EXPECT_EQ(count(repaired, "document cut into parts"), 1);
  EXPECT_EQ(count(skipped, "read error: unexpected end of file"), 1);  // truncated .gz
  // good.txt, latin1.txt, 3 parts of longline.txt, the one good JSONL record.
  EXPECT_EQ(r.all.documents, 6) << to_json(r.input).dump(1);
  EXPECT_TRUE(fs::exists(dir / "out" / "train.idx"));
}

TEST(Prepare, NothingUsableIsAnErrorAndWritesNoShard) {
  const auto dir = temp_dir("nothing");
  write_text(dir / "empty.txt", "");
  PrepareOptions popt;
  popt.output_dir = (dir / "out").string();
  EXPECT_THROW(prepare_from_inputs({(dir / "empty.txt").string()}, {}, test_tokenizer(), popt),
               Error);
  EXPECT_FALSE(fs::exists(dir / "out" / "train.bin"));
  EXPECT_FALSE(fs::exists(dir / "out" / ".all-documents.bin"));
  EXPECT_FALSE(fs::exists(dir / "out" / ".all-documents.bin.tmp"));
}

}  // namespace
}  // namespace longctx::data
