// Synthetic long-context tasks (data/tasks.h) as training sequences, mixed into the data at
// a share: the prompt (BOS first) fills the window but for a reserve, then the answer and
// EOS follow, then padding (input pad, target -1, segment -1). The loss covers prompt and
// answer (language-model loss on the input too, as in LLaMA 2 Long's long-context data).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/indexed_dataset.h"
#include "data/sampler.h"
#include "data/tasks.h"
#include "io/tokenizer.h"

namespace longctx::train {

enum class TaskKind { kPasskey, kFirstSentence };
// "passkey,first_sentence" -> kinds; Error naming --tasks for unknown names or an empty list.
std::vector<TaskKind> parse_task_kinds(const std::string& list);

struct TaskSequenceOptions {
  int64_t seq_len = 0;  // T
  int32_t eos_id = 2;
  int32_t pad_id = 0;
};

class TaskSequenceMaker {
 public:
  // first_sentence draws its documents from `documents` (a train shard), among those long
  // enough for the prompt; Error when a requested kind cannot be made at this length.
  TaskSequenceMaker(std::vector<TaskKind> kinds, const io::Tokenizer& tokenizer,
                    const std::string& document_prefix, TaskSequenceOptions options);
  // One example, chosen and generated from `seed`.
  void make(data::Sequence& out, uint64_t seed) const;
  int64_t prompt_tokens() const { return prompt_tokens_; }

 private:
  data::TaskExample first_sentence_example(uint64_t seed) const;

  std::vector<TaskKind> kinds_;
  const io::Tokenizer& tokenizer_;
  TaskSequenceOptions options_;
  int64_t prompt_tokens_ = 0;  // T minus the answer reserve
  std::unique_ptr<data::IndexedDataset> documents_;
  std::vector<int64_t> long_documents_;  // ids long enough for a first_sentence prompt
};

}  // namespace longctx::train
