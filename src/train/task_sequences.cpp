#include "train/task_sequences.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "data/tasks.h"

namespace longctx::train {

std::vector<TaskKind> parse_task_kinds(const std::string& list) {
  std::vector<TaskKind> kinds;
  std::stringstream ss(list);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name.empty()) continue;
    if (name == "passkey")
      kinds.push_back(TaskKind::kPasskey);
    else if (name == "first_sentence")
      kinds.push_back(TaskKind::kFirstSentence);
    else
      throw_error("--tasks: unknown task '%s' (passkey, first_sentence)", name.c_str());
  }
  LONGCTX_CHECK(!kinds.empty(), "--tasks: no task given");
  return kinds;
}

TaskSequenceMaker::TaskSequenceMaker(std::vector<TaskKind> kinds, const io::Tokenizer& tokenizer,
                                     const std::string& document_prefix,
                                     TaskSequenceOptions options)
    : kinds_(std::move(kinds)), tokenizer_(tokenizer), options_(options) {
  const int64_t T = options_.seq_len;
  // Room for the answer and EOS: passkeys need a few tokens, first sentences more.
  const int64_t reserve = std::clamp<int64_t>(T / 8, 16, 256);
  prompt_tokens_ = T - reserve;
  LONGCTX_CHECK(prompt_tokens_ >= 64,
                "--task-share: --seq %lld is too short for synthetic tasks "
                "(need at least %lld)",
                static_cast<long long>(T), static_cast<long long>(64 + 16));
  if (std::find(kinds_.begin(), kinds_.end(), TaskKind::kFirstSentence) != kinds_.end()) {
    documents_ = std::make_unique<data::IndexedDataset>(document_prefix);
    // A document of about 1.5x the prompt's tokens leaves room for the instruction.
    for (int64_t d = 0; d < documents_->documents(); ++d)
      if (documents_->document_length(d) * 2 >= prompt_tokens_ * 3) long_documents_.push_back(d);
    LONGCTX_CHECK(!long_documents_.empty(),
                  "--tasks first_sentence: no document in '%s' has %lld tokens for a %lld-token "
                  "prompt",
                  document_prefix.c_str(), static_cast<long long>(prompt_tokens_ * 3 / 2),
                  static_cast<long long>(prompt_tokens_));
  }
}

// Real documents do not all serve: a first sentence longer than the prompt (a licence
// header, a table) or none at all. Such a document is passed over for the next one drawn
// from the same seed, so one odd document never stops a training run; only a shard where
// none of kFirstSentenceTries documents serves is an error.
data::TaskExample TaskSequenceMaker::first_sentence_example(uint64_t seed) const {
  constexpr int kFirstSentenceTries = 64;
  std::string last_reason;
  for (int attempt = 0; attempt < kFirstSentenceTries; ++attempt) {
    const uint64_t draw = mix64(seed + 1 + static_cast<uint64_t>(attempt) * 0x9e3779b97f4a7c15ull);
    const int64_t doc = long_documents_[draw % long_documents_.size()];
    const std::string text = tokenizer_.decode(documents_->document(doc));
    try {
      return data::make_first_sentence(tokenizer_, text, {prompt_tokens_, seed});
    } catch (const Error& e) {
      last_reason = e.what();
    }
  }
  throw_error("--tasks first_sentence: none of %d documents drawn can make a %lld-token prompt "
              "(last: %s)",
              kFirstSentenceTries, static_cast<long long>(prompt_tokens_), last_reason.c_str());
}

void TaskSequenceMaker::make(data::Sequence& out, uint64_t seed) const {
  const int64_t T = options_.seq_len;
  const TaskKind kind = kinds_[mix64(seed) % kinds_.size()];
  data::TaskExample ex;
  if (kind == TaskKind::kPasskey) {
    ex = data::make_passkey(tokenizer_, {prompt_tokens_, -1.0, seed});
  } else {
    ex = first_sentence_example(seed);
  }
  std::vector<int32_t> stream = tokenizer_.encode(ex.prompt, /*add_bos=*/true);
  const std::vector<int32_t> answer = tokenizer_.encode(" " + ex.answer);
  for (int32_t id : answer)
    if (static_cast<int64_t>(stream.size()) < T) stream.push_back(id);  // long answers are cut
  if (options_.eos_id >= 0 && static_cast<int64_t>(stream.size()) < T + 1)
    stream.push_back(options_.eos_id);
  out.inputs.assign(static_cast<size_t>(T), options_.pad_id);
  out.targets.assign(static_cast<size_t>(T), -1);
  out.segment_ids.assign(static_cast<size_t>(T), -1);
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(stream.size()), T + 1);
  for (int64_t t = 0; t + 1 < n; ++t) {
    out.inputs[static_cast<size_t>(t)] = stream[static_cast<size_t>(t)];
    out.targets[static_cast<size_t>(t)] = stream[static_cast<size_t>(t + 1)];
    out.segment_ids[static_cast<size_t>(t)] = 0;
  }
}

}  // namespace longctx::train
