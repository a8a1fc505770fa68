// Synthetic tasks as training sequences: the prompt (BOS first), the answer and EOS, then
// padding without loss; first-sentence prompts come from long documents of a shard.
#include "train/batch_feed.h"
#include "train/task_sequences.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "core/error.h"
#include "data/test_support.h"
#include "train/test_shards.h"

namespace longctx::train {
namespace {

TEST(TaskSequences, PromptAnswerEosThenPadding) {
  const io::Tokenizer& tok = data::testing::test_tokenizer();
  const auto dir = testing::temp_dir("tasks");
  {
    data::IndexedDatasetWriter w((dir / "train").string(), data::TokenDType::kUInt16);
    for (int d = 0; d < 3; ++d)
      w.add_document(tok.encode(data::testing::synthetic_text(90 + d, 8000)));
    w.finish();
  }
  const int64_t T = 256;
  const TaskSequenceMaker maker(parse_task_kinds("passkey,first_sentence"), tok,
                                (dir / "train").string(), {T, tok.eos_id(), 0});
  int passkeys = 0, first_sentences = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    data::Sequence s;
    maker.make(s, seed);
    ASSERT_EQ(static_cast<int64_t>(s.inputs.size()), T);
    EXPECT_EQ(s.inputs[0], tok.bos_id());
    // Valid positions form a prefix; the last valid target is EOS; targets are inputs shifted.
    const auto first_pad = std::find(s.targets.begin(), s.targets.end(), -1) - s.targets.begin();
    ASSERT_GT(first_pad, maker.prompt_tokens());
    EXPECT_EQ(s.targets[static_cast<size_t>(first_pad - 1)], tok.eos_id());
    for (int64_t t = 0; t + 1 < first_pad; ++t)
      EXPECT_EQ(s.targets[static_cast<size_t>(t)], s.inputs[static_cast<size_t>(t + 1)]);
    for (int64_t t = first_pad; t < T; ++t) {
      EXPECT_EQ(s.targets[static_cast<size_t>(t)], -1);
      EXPECT_EQ(s.segment_ids[static_cast<size_t>(t)], -1);
    }
    const std::string text =
        tok.decode(std::vector<int32_t>(s.inputs.begin(), s.inputs.begin() + first_pad));
    if (text.find("What is the pass key? The pass key is") != std::string::npos) ++passkeys;
    if (text.find("What is the first sentence") != std::string::npos) ++first_sentences;
  }
  EXPECT_EQ(passkeys + first_sentences, 12);
  EXPECT_GT(passkeys, 0);
  EXPECT_GT(first_sentences, 0);
  EXPECT_THROW(parse_task_kinds("needle"), Error);
  // Documents shorter than the prompt cannot serve first_sentence at this length.
  EXPECT_THROW(TaskSequenceMaker(parse_task_kinds("first_sentence"), tok, (dir / "train").string(),
                                 {8192, tok.eos_id(), 0}),
               Error);
}

// In a data stream, --task-share of the sequences are synthetic tasks (drawn per sequence).
// A document whose first sentence does not fit the prompt (or that has none) is passed over
// for another; a shard where no document serves is an error naming the flag.
TEST(TaskSequences, FirstSentenceSkipsDocumentsThatCannotServe) {
  const io::Tokenizer& tok = data::testing::test_tokenizer();
  const auto dir = testing::temp_dir("tasks_skip");
  std::string run_on;  // one "sentence" of ~6000 bytes: longer than any 256-token prompt
  for (int w = 0; w < 1200; ++w) run_on += (w % 2 ? "cat " : "dog ");
  {
    data::IndexedDatasetWriter w((dir / "mixed").string(), data::TokenDType::kUInt16);
    w.add_document(tok.encode(run_on + "end. " + data::testing::synthetic_text(5, 4000)));
    w.add_document(tok.encode(data::testing::synthetic_text(91, 8000)));
    w.add_document(tok.encode(run_on + run_on));  // no sentence end at all
    w.finish();
  }
  const int64_t T = 256;
  const TaskSequenceMaker maker(parse_task_kinds("first_sentence"), tok, (dir / "mixed").string(),
                                {T, tok.eos_id(), 0});
  for (uint64_t seed = 0; seed < 16; ++seed) {
    data::Sequence s;
    ASSERT_NO_THROW(maker.make(s, seed)) << "seed " << seed;
    const std::string text = tok.decode(s.inputs);
    EXPECT_NE(text.find("What is the first sentence"), std::string::npos);
    EXPECT_EQ(text.find("dog cat dog cat dog cat"), std::string::npos) << "seed " << seed;
  }
  {
    data::IndexedDatasetWriter w((dir / "bad").string(), data::TokenDType::kUInt16);
    w.add_document(tok.encode(run_on + run_on));
    w.finish();
  }
  const TaskSequenceMaker bad(parse_task_kinds("first_sentence"), tok, (dir / "bad").string(),
                              {T, tok.eos_id(), 0});
  data::Sequence s;
  try {
    bad.make(s, 3);
    ADD_FAILURE() << "a shard without a usable first sentence must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--tasks first_sentence"), std::string::npos) << e.what();
  }
}

TEST(TaskSequences, StreamMixesTasksAtTheirShare) {
  const io::Tokenizer& tok = data::testing::test_tokenizer();
  const auto dir = testing::temp_dir("task-stream");
  {
    data::IndexedDatasetWriter w((dir / "train").string(), data::TokenDType::kUInt16);
    for (int d = 0; d < 4; ++d) w.add_document(tok.encode(data::testing::synthetic_text(70 + d, 6000)));
    w.finish();
  }
  std::ofstream(dir / "dataset.json") << "{\"tokenizer\": {\"vocab_size\": " << tok.vocab_size()
                                      << ", \"bos_id\": " << tok.bos_id() << ", \"eos_id\": "
                                      << tok.eos_id() << "}}\n";
  FeedOptions o;
  o.plan = {.seq = 256};  // one stream, one sequence per micro-batch
  o.task_share = 0.5;
  o.tasks = parse_task_kinds("passkey");
  o.tokenizer = &tok;
  DataStream stream(resolve_sources({dir.string()}), o, 0);
  const int kSequences = 40;
  int tasks = 0;
  for (int i = 0; i < kSequences; ++i) {
    MicroBatch mb;
    stream.next(mb);
    tasks += tok.decode(mb.tokens).find("The pass key is") != std::string::npos;
  }
  EXPECT_NEAR(tasks, kSequences / 2, 10);  // binomial(40, 0.5): 10 is 3.2 standard deviations
  EXPECT_GT(tasks, 0);
}

}  // namespace
}  // namespace longctx::train
