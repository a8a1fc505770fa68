// Fixed-length training sequences cut from token shards.
//
// Each document is framed as [BOS] tokens [EOS] (a separator is left out when the tokenizer
// has no such id). Two modes:
//   packed: framed documents back to back; a sequence is T+1 consecutive stream tokens
//           (inputs = the first T, targets = the last T) and the next sequence starts at the
//           last of them, so every token is predicted exactly once.
//   padded: one document per sequence; a document longer than T is cut into consecutive
//           windows, the last one padded (input pad_id, target -1, segment id -1).
// segment_ids (T,) number the documents inside a sequence from 0 (attention_forward's
// document-boundary mask); targets that would predict the next document's first token from the
// previous document's last are -1 when mask_cross_document_targets is set.
//
// Order: an epoch visits every document of this rank round(weight) times — weight from its
// length bucket, the fractional part drawn per (seed, epoch, document) — in an order shuffled
// with a generator seeded by (seed, rank, epoch). Document g belongs to rank g % world_size, so
// ranks see disjoint documents. The position is a small cursor (epoch, entry, token offset)
// that serialises to JSON; restoring it reproduces the exact continuation.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/indexed_dataset.h"

namespace longctx::data {

enum class PackMode { kPacked, kPadded };
PackMode parse_pack_mode(const std::string& name);  // "packed" | "padded"; Error otherwise
const char* pack_mode_name(PackMode mode);

// Documents with at least min_tokens tokens get `weight` (the last matching bucket wins).
// weight 2.5 = seen 2.5 times per epoch on average; 0 = never.
struct LengthBucketWeight {
  int64_t min_tokens = 0;
  double weight = 1.0;
};
// Parses "0:1,16384:4" into buckets (sorted by min_tokens); Error naming the flag otherwise.
std::vector<LengthBucketWeight> parse_bucket_weights(const std::string& spec);

struct SamplerOptions {
  int64_t seq_len = 2048;  // T, tokens per sequence
  PackMode mode = PackMode::kPacked;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  std::vector<LengthBucketWeight> upsample;  // empty = every document weight 1
  int32_t bos_id = 1;                        // < 0: no BOS separator
  int32_t eos_id = 2;                        // < 0: no EOS separator
  int32_t pad_id = 0;                        // input id at padding positions
  bool mask_cross_document_targets = true;
};

// One sequence; all (T,).
struct Sequence {
  std::vector<int32_t> inputs;
  std::vector<int32_t> targets;      // -1 = no loss
  std::vector<int32_t> segment_ids;  // -1 on padding
};

struct SamplerCursor {
  int64_t epoch = 0;
  int64_t entry = 0;      // index into the epoch's order
  int64_t offset = 0;     // token offset inside the framed document
  int64_t sequences = 0;  // sequences produced so far
};

class SequenceSampler {
 public:
  // Opens the shards (prefixes without .bin/.idx); documents are numbered across them in order.
  SequenceSampler(const std::vector<std::string>& shard_prefixes, SamplerOptions options);
  ~SequenceSampler();

  void next(Sequence& out);
  // Fills (batch, T) row-major buffers; any may be null.
  void next_batch(int64_t batch, int32_t* inputs, int32_t* targets, int32_t* segment_ids);

  const SamplerCursor& cursor() const { return cursor_; }
  nlohmann::json cursor_json() const;
  // Restores a cursor written by cursor_json(); Error when it belongs to another configuration.
  void restore(const nlohmann::json& cursor);

  int64_t total_documents() const { return static_cast<int64_t>(doc_lengths_.size()); }
  int64_t rank_documents() const { return static_cast<int64_t>(rank_docs_.size()); }
  int64_t document_length(int64_t global_doc) const { return doc_lengths_[global_doc]; }
  double document_weight(int64_t global_doc) const;
  // The global document ids of an epoch, in visiting order (repeats for upsampled ones).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  const SamplerOptions& options() const { return options_; }

 private:
  int64_t framed_length(int64_t doc) const;
  // Copies framed tokens [begin, begin+count) of `doc` into out.
  void read_framed(int64_t doc, int64_t begin, int64_t count, int32_t* out) const;
  void enter_epoch(int64_t epoch);
  void advance_entry();
  int64_t current_doc() const { return order_[cursor_.entry]; }
  void next_packed(Sequence& out);
  void next_padded(Sequence& out);

  SamplerOptions options_;
  std::vector<std::unique_ptr<IndexedDataset>> shards_;
  std::vector<std::pair<int32_t, int64_t>> doc_location_;  // global doc -> (shard, local doc)
  std::vector<int64_t> doc_lengths_;                       // global doc -> tokens
  std::vector<int64_t> rank_docs_;                         // this rank's global docs
  std::vector<int64_t> order_;                             // current epoch's order
  SamplerCursor cursor_;
};

}  // namespace longctx::data
