// data prepare with documents tokenised in segments: the shard holds exactly the tokens of
// encoding each document whole, bit for bit, with 1 and with 2 threads, on real novels with
// the LLaMA 2 tokenizer and with a tokenizer trained by longctx; and memory-heavy inputs are
// cut (and reported) rather than handed to SentencePiece whole.
#include "data/prepare.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/indexed_dataset.h"
#include "data/test_support.h"

namespace longctx::data {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::synthetic_text;
using testing::temp_dir;
using testing::test_tokenizer;
using testing::write_text;

const std::string kText = std::string(LONGCTX_SHARED_DATA) + "/text";

// Each input document, cleaned as data prepare reads it, encoded whole in one call.
std::vector<std::vector<int32_t>> whole_document_tokens(const std::vector<std::string>& inputs,
                                                        const io::Tokenizer& tok) {
  InputReport report;
  DocumentReader reader(expand_inputs(inputs, TextInputOptions{}, report), TextInputOptions{});
  std::vector<std::vector<int32_t>> out;
  Document doc;
  while (reader.next(doc)) out.push_back(tok.encode(doc.text));
  return out;
}

// Prepares `inputs` with `threads`, every document in train; checks each shard document
// against `whole` and returns the .bin bytes.
std::string prepare_and_check(const std::vector<std::string>& inputs, const io::Tokenizer& tok,
                              const std::vector<std::vector<int32_t>>& whole, int threads,
                              const fs::path& out, int64_t* cuts) {
  PrepareOptions opt;
  opt.output_dir = out.string();
  opt.split.valid_fraction = 0;
  opt.threads = threads;
  opt.segments = {2048, 65536};  // many cuts: a segment per ~2 KB
  const PrepareResult r = prepare_from_inputs(inputs, TextInputOptions{}, tok, opt);
  EXPECT_EQ(r.unproven_cuts, 0);
  *cuts = r.segments - r.all.documents;

  const IndexedDataset shard((out / "train").string());
  EXPECT_EQ(shard.documents(), static_cast<int64_t>(whole.size()));
  for (int64_t d = 0; d < shard.documents() && d < static_cast<int64_t>(whole.size()); ++d)
    EXPECT_TRUE(shard.document(d) == whole[d]) << "document " << d << ", " << threads << " threads";
  return read_bytes(out / "train.bin");
}

void expect_exact_with_one_and_two_threads(const std::vector<std::string>& inputs,
                                           const io::Tokenizer& tok, const std::string& name) {
  const fs::path dir = temp_dir("segments-" + name);
  int64_t cuts1 = 0, cuts2 = 0;
  const auto whole = whole_document_tokens(inputs, tok);
  const std::string one = prepare_and_check(inputs, tok, whole, 1, dir / "t1", &cuts1);
  const std::string two = prepare_and_check(inputs, tok, whole, 2, dir / "t2", &cuts2);
  EXPECT_GT(cuts1, 100) << name;  // the check is about cuts: there must be many
  EXPECT_EQ(cuts1, cuts2);
  EXPECT_TRUE(one == two) << name << ": shards differ between 1 and 2 threads";
  EXPECT_EQ(read_bytes(dir / "t1" / "train.idx"), read_bytes(dir / "t2" / "train.idx"));
}

TEST(PrepareSegments, NovelsTokenisedInSegmentsMatchWholeDocumentsLlama2) {
  const std::string model = std::string(LONGCTX_SHARED_DATA) + "/models/llama2-tokenizer.model";
  if (!fs::exists(model) || !fs::exists(kText)) GTEST_SKIP() << "no ../shared/data";
  const io::Tokenizer tok = io::Tokenizer::from_file(model);
  // The three shortest novels keep the whole-document reference encodings fast; every novel
  // is covered by io's SegmentedEncoder test and by the full-corpus check in docs/data.md.
  expect_exact_with_one_and_two_threads(
      {kText + "/pg5200.txt", kText + "/pg11.txt", kText + "/pg16.txt"}, tok, "llama2");
}

TEST(PrepareSegments, NovelsTokenisedInSegmentsMatchWholeDocumentsTrainedTokenizer) {
  std::vector<std::string> inputs;
  if (fs::exists(kText)) {
    inputs = {kText + "/pg5200.txt", kText + "/pg11.txt", kText + "/pg16.txt"};
  } else {  // still a real check without ../shared/data: long synthetic documents
    const fs::path dir = temp_dir("segments-synthetic-input");
    for (int i = 0; i < 3; ++i) {
      const fs::path p = dir / ("doc" + std::to_string(i) + ".txt");
      write_text(p, synthetic_text(100 + i, 150000));
      inputs.push_back(p.string());
    }
  }
  expect_exact_with_one_and_two_threads(inputs, test_tokenizer(), "trained");
}

TEST(PrepareSegments, DocumentsWithoutSafeCutsAreCutToBoundMemoryAndReported) {
  const io::Tokenizer& tok = test_tokenizer();
  const io::SegmentedEncoder enc(tok);
  // Two letters that pair up inside pieces both ways ("er" in "river", "re" in "green"):
  // "xyxy..." then has no provably safe cut at all.
  std::string unit;
  for (char x = 'a'; x <= 'z' && unit.empty(); ++x)
    for (char y = 'a'; y <= 'z' && unit.empty(); ++y)
      if (x != y && !enc.safe_cut(std::string{x, y, x, y}, 1) &&
          !enc.safe_cut(std::string{x, y, x, y}, 2))
        unit = std::string{x, y};
  ASSERT_FALSE(unit.empty());
  std::string line;
  while (line.size() < (256u << 10)) line += unit;
  const fs::path dir = temp_dir("segments-forced");
  write_text(dir / "one-line.txt", line);
  PrepareOptions opt;
  opt.output_dir = (dir / "out").string();
  opt.split.valid_fraction = 0;
  opt.segments = {4096, 16384};
  TextInputOptions in;
  in.max_line_bytes = 8 << 20;  // no wrapping: the only boundaries are the tokenizer's
  const PrepareResult r = prepare_from_inputs({(dir / "one-line.txt").string()}, in, tok, opt);
  EXPECT_EQ(r.all.documents, 1);
  EXPECT_EQ(r.segments, static_cast<int64_t>(line.size() / 16384));  // max-length segments
  EXPECT_EQ(r.unproven_cuts, r.segments - 1);
  EXPECT_EQ(r.input.repaired.count(
                "cut for the tokenizer where no boundary is provably safe (tokens next to the "
                "cut may differ from encoding the text whole)"),
            1u);
  EXPECT_EQ(r.json["segments"]["unproven_cuts"], r.segments - 1);
}

}  // namespace
}  // namespace longctx::data
