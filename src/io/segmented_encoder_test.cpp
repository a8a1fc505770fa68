// SegmentedEncoder: every cut it calls safe must leave the tokens of the whole text unchanged,
// checked exhaustively (every position of tricky texts) on SentencePiece models trained with
// each normaliser setting that matters, on the LLaMA 2 tokenizer with llama.cpp's conformance
// texts and excerpts of the novels in ../shared/data/text; and the controls show that the
// rules are needed (without them the tokens do change), so the checks can fail.
#include "io/segmented_encoder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/sentencepiece_proto.h"
#include "io/stories_fixture.h"
#include "io/tokenizer_train.h"
#include "io/tokenizer_vectors_fixture.h"

namespace longctx::io {
namespace {

namespace fs = std::filesystem;
using test_fixtures::kData;

// Seeded English-like lines with doubled spaces now and then (so "▁▁" becomes a piece).
std::vector<std::string> training_lines() {
  static const char* kWords[] = {
      "the",    "river",  "stone",   "light",   "over",   "under",   "green",  "house",
      "garden", "window", "letter",  "morning", "silver", "voice",   "answer", "winter",
      "child",  "and",    "of",      "to",      "in",     "with",    "was",    "she",
      "he",     "it",     "that",    "there",   "forest", "lantern", "seven",  "walked",
      "spoke",  "heard",  "Leading", "Tabs",    "spaces", "Numbers", "end",    "word"};
  std::mt19937_64 rng(11);
  std::vector<std::string> lines;
  for (int l = 0; l < 3000; ++l) {
    std::string line;
    const int words = 4 + static_cast<int>(rng() % 12);
    for (int w = 0; w < words; ++w) {
      if (w) line += rng() % 9 == 0 ? "  " : " ";
      line += kWords[rng() % std::size(kWords)];
    }
    line += rng() % 2 ? ". " : ", 12345.";
    lines.push_back(line);
  }
  return lines;
}

// A small BPE model with LLaMA's settings, changed by `changes`.
Tokenizer train(const std::string& name, const std::map<std::string, std::string>& changes) {
  std::unordered_map<std::string, std::string> args = {{"model_type", "bpe"},
                                                       {"vocab_size", "400"},
                                                       {"character_coverage", "1.0"},
                                                       {"byte_fallback", "true"},
                                                       {"split_digits", "true"},
                                                       {"allow_whitespace_only_pieces", "true"},
                                                       {"remove_extra_whitespaces", "false"},
                                                       {"normalization_rule_name", "identity"},
                                                       {"unk_id", "0"},
                                                       {"bos_id", "1"},
                                                       {"eos_id", "2"},
                                                       {"pad_id", "-1"},
                                                       {"hard_vocab_limit", "false"},
                                                       {"minloglevel", "2"},
                                                       {"num_threads", "1"}};
  for (const auto& [k, v] : changes) args[k] = v;
  static const std::vector<std::string> lines = training_lines();
  return Tokenizer::from_serialized_proto(train_sentencepiece_model(lines, args, name), name);
}

// Leading, doubled and trailing spaces, tabs, runs of newlines, characters no piece holds
// (unknown without byte fallback), a literal U+2581, user-defined symbols, digits.
const std::string kTricky =
    "  Leading spaces and  double  spaces.\tTabs\t\tand\nnewlines\n\n\nthree. Unknown: "
    "\xD0\xB6\xD0\xB8\xD0\xB7\xD0\xBD\xD1\x8C \xE6\xBC\xA2\xE5\xAD\x97\xF0\x9F\x99\x82"
    "\xF0\x9F\x99\x82 end. Literal \xE2\x96\x81 symbol \xE2\x96\x81\xE2\x96\x81word "
    "<sep>joined<sep> ab cd ab\xE2\x96\x81"
    "cd. Numbers 12345  67890. The river was green "
    "and the stone   was silver.   \n   \n  x";

struct CutCheck {
  int safe = 0, safe_mismatch = 0;      // cuts called safe; of them, tokens changed (must be 0)
  int unsafe = 0, unsafe_mismatch = 0;  // the others; of them, tokens changed (controls)
};

// Every cut position of `text`: tokens of the two parts joined vs the whole.
CutCheck check_every_cut(const SegmentedEncoder& enc, const Tokenizer& tok,
                         const std::string& text) {
  const std::vector<int32_t> whole = tok.encode(text);
  CutCheck c;
  for (size_t p = 1; p < text.size(); ++p) {
    if ((static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) continue;
    std::vector<int32_t> joined = enc.encode_segment(text, {0, p, true});
    enc.append(joined, enc.encode_segment(text, {p, text.size(), true}));
    const bool same = joined == whole;
    if (enc.safe_cut(text, p)) {
      ++c.safe;
      if (!same) {
        ++c.safe_mismatch;
        ADD_FAILURE() << tok.origin() << ": cut at byte " << p << " called safe changes the tokens"
                      << " (before: '" << text.substr(p > 12 ? p - 12 : 0, p > 12 ? 12 : p)
                      << "', after: '" << text.substr(p, 12) << "')";
      }
    } else {
      ++c.unsafe;
      c.unsafe_mismatch += same ? 0 : 1;
    }
  }
  return c;
}

// Many cuts at once (a segment at nearly every safe position) give the whole text's tokens.
void expect_fine_segments_exact(const SegmentedEncoder& enc, const Tokenizer& tok,
                                const std::string& text) {
  const auto plan = enc.plan(text, {1, 64});
  EXPECT_GT(plan.size(), text.size() / 16) << tok.origin();
  for (const TextSegment& s : plan) EXPECT_TRUE(s.proven) << tok.origin() << " at " << s.begin;
  EXPECT_EQ(enc.encode(text, {1, 64}), tok.encode(text)) << tok.origin();
}

TEST(SegmentedEncoder, LlamaSettingsEveryCutCalledSafeIsExact) {
  const Tokenizer tok = train("llama-like", {{"user_defined_symbols",
                                              "<sep>,ab\xE2\x96\x81"
                                              "cd"}});
  const SegmentedEncoder enc(tok);
  ASSERT_TRUE(enc.can_prove_cuts()) << enc.unprovable_reason();
  const CutCheck c = check_every_cut(enc, tok, kTricky);
  EXPECT_EQ(c.safe_mismatch, 0);
  EXPECT_GT(c.safe, static_cast<int>(kTricky.size() / 4));  // most word boundaries qualify
  EXPECT_GT(c.unsafe_mismatch, 10);  // control: cuts the rules refuse do change tokens
  // Control: without the continuation tokenizer (dummy prefix on every part) safe cuts break.
  int dummy_prefix_breaks = 0;
  for (size_t p = 1; p < kTricky.size(); ++p) {
    if (!enc.safe_cut(kTricky, p)) continue;
    std::vector<int32_t> naive = tok.encode(kTricky.substr(0, p));
    const std::vector<int32_t> rest = tok.encode(kTricky.substr(p));
    naive.insert(naive.end(), rest.begin(), rest.end());
    dummy_prefix_breaks += naive != tok.encode(kTricky) ? 1 : 0;
  }
  EXPECT_EQ(dummy_prefix_breaks, c.safe);
  // The user-defined symbols are never cut through.
  const size_t sep = kTricky.find("<sep>");
  for (size_t p = sep + 1; p < sep + 5; ++p) EXPECT_FALSE(enc.safe_cut(kTricky, p));
  expect_fine_segments_exact(enc, tok, kTricky);
}

TEST(SegmentedEncoder, CollapsedWhitespaceNoPrefixAndNoByteFallbackStayExact) {
  const Tokenizer collapse =
      train("remove-extra-whitespaces", {{"remove_extra_whitespaces", "true"}});
  const Tokenizer no_prefix = train("no-dummy-prefix", {{"add_dummy_prefix", "false"}});
  const Tokenizer no_bytes = train("no-byte-fallback", {{"byte_fallback", "false"}});
  for (const Tokenizer* tok : {&collapse, &no_prefix, &no_bytes}) {
    const SegmentedEncoder enc(*tok);
    ASSERT_TRUE(enc.can_prove_cuts()) << enc.unprovable_reason();
    const CutCheck c = check_every_cut(enc, *tok, kTricky);
    EXPECT_EQ(c.safe_mismatch, 0) << tok->origin();
    EXPECT_GT(c.safe, static_cast<int>(kTricky.size() / 4)) << tok->origin();
    expect_fine_segments_exact(enc, *tok, kTricky);
  }
  // Controls. Collapsing whitespace: a cut next to a space (which the rules refuse there)
  // changes the tokens.
  {
    const SegmentedEncoder enc(collapse);
    int broken = 0;
    for (size_t p = 1; p < kTricky.size(); ++p)
      if (kTricky[p - 1] == ' ' || kTricky[p] == ' ') {
        std::vector<int32_t> joined = enc.encode_segment(kTricky, {0, p, true});
        enc.append(joined, enc.encode_segment(kTricky, {p, kTricky.size(), true}));
        broken += joined != collapse.encode(kTricky) ? 1 : 0;
      }
    EXPECT_GT(broken, 5);
  }
  // Unknown runs: between two unknown characters the cut is safe only because joining folds
  // the two unknown tokens into one, as SentencePiece does inside a text.
  {
    const SegmentedEncoder enc(no_bytes);
    const size_t p = kTricky.find("\xF0\x9F\x99\x82") + 4;  // between the two emoji
    ASSERT_TRUE(enc.safe_cut(kTricky, p));
    const std::vector<int32_t> left = enc.encode_segment(kTricky, {0, p, true});
    const std::vector<int32_t> right = enc.encode_segment(kTricky, {p, kTricky.size(), true});
    ASSERT_EQ(left.back(), no_bytes.unk_id());
    ASSERT_EQ(right.front(), no_bytes.unk_id());
    std::vector<int32_t> joined = left;
    enc.append(joined, right);
    EXPECT_EQ(joined.size() + 1, left.size() + right.size());
    EXPECT_EQ(joined, no_bytes.encode(kTricky));
  }
}

TEST(SegmentedEncoder, UnprovableModelsAreCutOnlyToBoundMemoryAndSaySo) {
  const Tokenizer unigram = train("unigram", {{"model_type", "unigram"}});
  const Tokenizer nfkc = train("nfkc", {{"normalization_rule_name", "nmt_nfkc"}});
  for (const Tokenizer* tok : {&unigram, &nfkc}) {
    const SegmentedEncoder enc(*tok);
    EXPECT_FALSE(enc.can_prove_cuts()) << tok->origin();
    EXPECT_FALSE(enc.unprovable_reason().empty());
    EXPECT_FALSE(enc.safe_cut(kTricky, kTricky.find(' ') + 1));
    // Up to max_bytes a text stays whole, so its tokens are exact.
    const auto one = enc.plan(kTricky, {16, kTricky.size()});
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(enc.encode(kTricky, {16, kTricky.size()}), tok->encode(kTricky));
    // Longer: cut every max_bytes, after a newline in the second half of a window if any.
    const std::string text = std::string(300, 'x') + "\n" + std::string(1000, 'y');
    const auto plan = enc.plan(text, {100, 400});
    ASSERT_GE(plan.size(), 4u);
    EXPECT_EQ(plan[0].end, 301u);  // right after the newline
    for (size_t i = 0; i < plan.size(); ++i) {
      EXPECT_EQ(plan[i].begin, i ? plan[i - 1].end : 0u);
      EXPECT_LE(plan[i].end - plan[i].begin, 400u);
      EXPECT_EQ(plan[i].proven, i == 0);
    }
    EXPECT_EQ(plan.back().end, text.size());
  }
  EXPECT_NE(SegmentedEncoder(unigram).unprovable_reason().find("unigram"), std::string::npos);
  EXPECT_NE(SegmentedEncoder(nfkc).unprovable_reason().find("nmt_nfkc"), std::string::npos);
}

TEST(SegmentedEncoder, PlansCoverTheTextAndForceCutsOnlyWhereNoSafeOneExists) {
  const Tokenizer tok = train("llama-like", {});
  const SegmentedEncoder enc(tok);
  // A run of spaces has no safe cut ("▁▁" is a piece); the words around it do.
  const std::string text = "river " + std::string(5000, ' ') + "stone and the river was green";
  ASSERT_FALSE(enc.safe_cut(text, 100)) << "the training text should have made '▁▁' a piece";
  const auto plan = enc.plan(text, {100, 1000});
  int unproven = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(plan[i].begin, i ? plan[i - 1].end : 0u);
    EXPECT_LE(plan[i].end - plan[i].begin, 1000u);
    unproven += plan[i].proven ? 0 : 1;
  }
  EXPECT_EQ(plan.back().end, text.size());
  EXPECT_GE(unproven, 4);  // 5000 spaces need at least 5 segments
  // Never inside a UTF-8 character, even when forced.
  std::string many;
  for (int i = 0; i < 400; ++i) many += "\xE2\x96\x81";  // literal U+2581 run: no safe cut
  for (const TextSegment& s : enc.plan(many, {10, 100}))
    EXPECT_NE(static_cast<unsigned char>(many[s.begin]) & 0xC0, 0x80u);
  EXPECT_THROW(enc.plan(text, {0, 10}), Error);
  EXPECT_THROW(enc.plan(text, {100, 50}), Error);
}

TEST(SegmentedEncoder, DummyPrefixRewriteKeepsEverythingElse) {
  const Tokenizer tok = train("llama-like", {});
  const std::string proto = tok.serialized_proto();
  const SpModel before = parse_sp_model(proto, "before");
  const SpModel after = parse_sp_model(sp_model_with_dummy_prefix(proto, false, "t"), "after");
  EXPECT_TRUE(before.add_dummy_prefix);
  EXPECT_FALSE(after.add_dummy_prefix);
  EXPECT_EQ(after.pieces.size(), before.pieces.size());
  EXPECT_EQ(after.remove_extra_whitespaces, before.remove_extra_whitespaces);
  EXPECT_EQ(after.byte_fallback, before.byte_fallback);
  EXPECT_EQ(after.normalizer_name, "identity");
  const Tokenizer cont = Tokenizer::from_serialized_proto(
      sp_model_with_dummy_prefix(proto, false, "t"), "continuation");
  EXPECT_EQ(cont.encode(" river"), tok.encode("river"));
  EXPECT_NE(cont.encode("river"), tok.encode("river"));
}

// The LLaMA 2 tokenizer: llama.cpp's conformance texts (every cut) and excerpts of every novel
// (fine segments, so thousands of cuts), all tokens identical to encoding the text whole.
TEST(SegmentedEncoder, Llama2TokenizerOnConformanceTextsAndNovels) {
  const std::string model = kData + "/models/llama2-tokenizer.model";
  const std::string base = kData + "/tokenizer-tests/ggml-vocab-llama-spm.gguf";
  if (!fs::exists(model) || !fs::exists(base + ".inp")) GTEST_SKIP() << "no ../shared/data";
  const Tokenizer tok = Tokenizer::from_file(model);
  const SegmentedEncoder enc(tok);
  ASSERT_TRUE(enc.can_prove_cuts()) << enc.unprovable_reason();

  int texts = 0, cuts = 0;
  CutCheck total;
  auto check = [&](const std::string& t) {
    const CutCheck c = check_every_cut(enc, tok, t);
    total.safe += c.safe;
    total.unsafe_mismatch += c.unsafe_mismatch;
    ++texts;
  };
  for (const auto& v : test_fixtures::read_tokenizer_vectors(base))
    if (v.text.size() > 1) check(v.text);
  check(kTricky);
  EXPECT_GT(texts, 20);
  EXPECT_GT(total.safe, 200);
  EXPECT_GT(total.unsafe_mismatch, 50);

  for (const auto& e : fs::directory_iterator(kData + "/text")) {
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string book = ss.str();
    for (double at : {0.0, 0.5, 0.97}) {  // start (with the Gutenberg header), middle, end
      size_t b = static_cast<size_t>(at * static_cast<double>(book.size()));
      while (b > 0 && (static_cast<unsigned char>(book[b]) & 0xC0) == 0x80) --b;
      size_t end = std::min(book.size(), b + 12000);
      while (end < book.size() && (static_cast<unsigned char>(book[end]) & 0xC0) == 0x80) --end;
      const std::string excerpt = book.substr(b, end - b);
      const SegmentOptions fine{256, 4096};
      const auto plan = enc.plan(excerpt, fine);
      cuts += static_cast<int>(plan.size()) - 1;
      for (const TextSegment& s : plan) EXPECT_TRUE(s.proven) << e.path() << " at " << b + s.begin;
      EXPECT_EQ(enc.encode(excerpt, fine), tok.encode(excerpt)) << e.path() << " from byte " << b;
    }
  }
  EXPECT_GT(cuts, 1000);
}

}  // namespace
}  // namespace longctx::io
