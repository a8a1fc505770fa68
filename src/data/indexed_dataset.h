// Token shards in Megatron-LM's memory-mapped indexed-dataset layout ("MMIDIDX", version 1):
// <prefix>.bin holds the token ids of every document back to back; <prefix>.idx holds the
// header, per-sequence lengths and byte offsets, and the document index. Byte-by-byte
// description in docs/data.md. Shards hold raw document tokens (no BOS/EOS); the sampler
// adds separators.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace longctx::data {

// Megatron's dtype codes (megatron/core/datasets/indexed_dataset.py, DType).
enum class TokenDType : uint8_t { kUInt16 = 8, kInt32 = 4 };

inline int token_dtype_bytes(TokenDType t) { return t == TokenDType::kUInt16 ? 2 : 4; }
// The narrowest dtype that holds ids 0..vocab_size-1 (Megatron uses uint16 below 65500).
TokenDType token_dtype_for_vocab(int64_t vocab_size);

inline constexpr char kIndexMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
inline constexpr uint64_t kIndexVersion = 1;

// Writes <prefix>.bin / <prefix>.idx under temporary names (<name>.tmp) and renames both
// only in finish(); a writer destroyed without finish() deletes its temporary files, so a
// crash or an error never leaves a half-written shard under the final name.
class IndexedDatasetWriter {
 public:
  IndexedDatasetWriter(std::string prefix, TokenDType dtype);
  ~IndexedDatasetWriter();
  IndexedDatasetWriter(const IndexedDatasetWriter&) = delete;
  IndexedDatasetWriter& operator=(const IndexedDatasetWriter&) = delete;

  // Appends one document (one sequence). Ids must fit the dtype.
  void add_document(std::span<const int32_t> tokens);
  // The same in pieces, so a long document never has to be held whole: tokens go to the file
  // as they come, and end_document() closes the document (possibly empty).
  void append_tokens(std::span<const int32_t> tokens);
  void end_document();
  void finish();  // writes the index, fsyncs, renames both files
  int64_t documents() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t tokens() const { return tokens_; }

 private:
  std::string prefix_;
  TokenDType dtype_;
  int fd_ = -1;
  std::vector<int32_t> lengths_;  // tokens per document
  int64_t tokens_ = 0;
  int64_t open_tokens_ = 0;  // tokens of the document being appended
  bool finished_ = false;
  std::vector<char> buffer_;  // staging for dtype conversion
};

// Read-only, memory-mapped view of a shard; validates the index against the file sizes
// at open (throws longctx::Error naming the file and the inconsistency).
class IndexedDataset {
 public:
  explicit IndexedDataset(const std::string& prefix);
  ~IndexedDataset();
  IndexedDataset(IndexedDataset&&) noexcept;
  IndexedDataset& operator=(IndexedDataset&&) = delete;
  IndexedDataset(const IndexedDataset&) = delete;

  int64_t documents() const { return static_cast<int64_t>(doc_offsets_.size()) - 1; }
  int64_t total_tokens() const { return doc_offsets_.back(); }
  int64_t document_length(int64_t doc) const {
    return doc_offsets_[doc + 1] - doc_offsets_[doc];
  }
  TokenDType dtype() const { return dtype_; }
  const std::string& prefix() const { return prefix_; }
  // Copies tokens [begin, begin+count) of document `doc` into out (as int32).
  void read(int64_t doc, int64_t begin, int64_t count, int32_t* out) const;
  std::vector<int32_t> document(int64_t doc) const;
  // Drops this process's resident pages of documents [0, doc_end) (they stay in the file and the
  // page cache), so a sequential pass over a large shard keeps a bounded RSS.
  void release_before(int64_t doc_end) const;

 private:
  std::string prefix_;
  TokenDType dtype_ = TokenDType::kUInt16;
  const uint8_t* bin_ = nullptr;
  size_t bin_size_ = 0;
  std::vector<int64_t> doc_offsets_;  // (documents+1,) token offsets into .bin
};

}  // namespace longctx::data
