#include "data/indexed_dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace longctx::data {
namespace {

// Header: magic (9) + version u64 + dtype u8 + sequence count u64 + document count u64.
constexpr size_t kHeaderBytes = 9 + 8 + 1 + 8 + 8;

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    LONGCTX_CHECK(w > 0, "writing '%s': %s", path.c_str(), std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void fsync_and_close(int fd, const std::string& path) {
  LONGCTX_CHECK(::fsync(fd) == 0, "fsync '%s': %s", path.c_str(), std::strerror(errno));
  LONGCTX_CHECK(::close(fd) == 0, "closing '%s': %s", path.c_str(), std::strerror(errno));
}

// Maps a whole file read-only; returns nullptr for an empty file.
const uint8_t* map_file(const std::string& path, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LONGCTX_CHECK(fd >= 0, "opening shard file '%s': %s", path.c_str(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw_error("stat '%s': %s", path.c_str(), std::strerror(errno));
  }
  *size = static_cast<size_t>(st.st_size);
  if (*size == 0) {
    ::close(fd);
    return nullptr;
  }
  void* p = ::mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  LONGCTX_CHECK(p != MAP_FAILED, "mmap '%s': %s", path.c_str(), std::strerror(errno));
  return static_cast<const uint8_t*>(p);
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

TokenDType token_dtype_for_vocab(int64_t vocab_size) {
  return vocab_size <= 65500 ? TokenDType::kUInt16 : TokenDType::kInt32;
}

IndexedDatasetWriter::IndexedDatasetWriter(std::string prefix, TokenDType dtype)
    : prefix_(std::move(prefix)), dtype_(dtype) {
  const std::string tmp = prefix_ + ".bin.tmp";
  fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LONGCTX_CHECK(fd_ >= 0, "creating shard '%s': %s", tmp.c_str(), std::strerror(errno));
}

IndexedDatasetWriter::~IndexedDatasetWriter() {
  if (finished_) return;
  if (fd_ >= 0) ::close(fd_);
  std::remove((prefix_ + ".bin.tmp").c_str());
  std::remove((prefix_ + ".idx.tmp").c_str());
}

void IndexedDatasetWriter::add_document(std::span<const int32_t> tokens) {
  append_tokens(tokens);
  end_document();
}

void IndexedDatasetWriter::append_tokens(std::span<const int32_t> tokens) {
  LONGCTX_CHECK(!finished_, "shard '%s': tokens added after finish", prefix_.c_str());
  LONGCTX_CHECK(static_cast<int64_t>(tokens.size()) <=
                    std::numeric_limits<int32_t>::max() - open_tokens_,
                "shard '%s': document of over %lld tokens exceeds the int32 length field",
                prefix_.c_str(), static_cast<long long>(open_tokens_));
  const std::string tmp = prefix_ + ".bin.tmp";
  if (dtype_ == TokenDType::kUInt16) {
    buffer_.resize(tokens.size() * 2);
    for (size_t i = 0; i < tokens.size(); ++i) {
      LONGCTX_CHECK(tokens[i] >= 0 && tokens[i] <= 65535,
                    "shard '%s': token id %d does not fit uint16", prefix_.c_str(), tokens[i]);
      const uint16_t v = static_cast<uint16_t>(tokens[i]);
      std::memcpy(buffer_.data() + 2 * i, &v, 2);
    }
    write_all(fd_, buffer_.data(), buffer_.size(), tmp);
  } else {
    write_all(fd_, tokens.data(), tokens.size() * 4, tmp);
  }
  open_tokens_ += static_cast<int64_t>(tokens.size());
}

void IndexedDatasetWriter::end_document() {
  LONGCTX_CHECK(!finished_, "shard '%s': document ended after finish", prefix_.c_str());
  lengths_.push_back(static_cast<int32_t>(open_tokens_));
  tokens_ += open_tokens_;
  open_tokens_ = 0;
}

void IndexedDatasetWriter::finish() {
  LONGCTX_CHECK(!finished_, "shard '%s': finish called twice", prefix_.c_str());
  LONGCTX_CHECK(open_tokens_ == 0, "shard '%s': finish with a document still open",
                prefix_.c_str());
  const std::string bin_tmp = prefix_ + ".bin.tmp", idx_tmp = prefix_ + ".idx.tmp";
  fsync_and_close(fd_, bin_tmp);
  fd_ = -1;

  const uint64_t n = lengths_.size();
  std::vector<uint8_t> idx(kHeaderBytes + n * 4 + n * 8 + (n + 1) * 8);
  uint8_t* p = idx.data();
  auto put = [&](const void* src, size_t bytes) {
    std::memcpy(p, src, bytes);
    p += bytes;
  };
  const uint64_t version = kIndexVersion, doc_count = n + 1;
  const uint8_t code = static_cast<uint8_t>(dtype_);
  put(kIndexMagic, 9);
  put(&version, 8);
  put(&code, 1);
  put(&n, 8);
  put(&doc_count, 8);
  put(lengths_.data(), n * 4);
  int64_t pointer = 0;
  for (uint64_t i = 0; i < n; ++i) {
    put(&pointer, 8);
    pointer += static_cast<int64_t>(lengths_[i]) * token_dtype_bytes(dtype_);
  }
  for (uint64_t i = 0; i <= n; ++i) {
    const int64_t doc_index = static_cast<int64_t>(i);  // one sequence per document
    put(&doc_index, 8);
  }
  const int fd = ::open(idx_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LONGCTX_CHECK(fd >= 0, "creating index '%s': %s", idx_tmp.c_str(), std::strerror(errno));
  write_all(fd, idx.data(), idx.size(), idx_tmp);
  fsync_and_close(fd, idx_tmp);
  // The .bin goes first: a crash between the renames leaves no .idx, so no readable shard.
  LONGCTX_CHECK(std::rename(bin_tmp.c_str(), (prefix_ + ".bin").c_str()) == 0,
                "renaming '%s': %s", bin_tmp.c_str(), std::strerror(errno));
  LONGCTX_CHECK(std::rename(idx_tmp.c_str(), (prefix_ + ".idx").c_str()) == 0,
                "renaming '%s': %s", idx_tmp.c_str(), std::strerror(errno));
  finished_ = true;
}

IndexedDataset::IndexedDataset(const std::string& prefix) : prefix_(prefix) {
  const std::string idx_path = prefix + ".idx", bin_path = prefix + ".bin";
  size_t idx_size = 0;
  const uint8_t* idx = map_file(idx_path, &idx_size);
  struct Unmap {
    const uint8_t* p;
    size_t n;
    ~Unmap() {
      if (p) ::munmap(const_cast<uint8_t*>(p), n);
    }
  } unmap_idx{idx, idx_size};
  LONGCTX_CHECK(idx_size >= kHeaderBytes, "shard index '%s': %zu bytes, shorter than the header",
                idx_path.c_str(), idx_size);
  LONGCTX_CHECK(std::memcmp(idx, kIndexMagic, 9) == 0,
                "shard index '%s': bad magic (not a MMIDIDX file)", idx_path.c_str());
  const uint64_t version = load<uint64_t>(idx + 9);
  LONGCTX_CHECK(version == kIndexVersion, "shard index '%s': version %llu, expected 1",
                idx_path.c_str(), static_cast<unsigned long long>(version));
  const uint8_t code = idx[17];
  LONGCTX_CHECK(code == 8 || code == 4,
                "shard index '%s': dtype code %u unsupported (uint16=8 and int32=4 are)",
                idx_path.c_str(), code);
  dtype_ = static_cast<TokenDType>(code);
  const uint64_t seqs = load<uint64_t>(idx + 18), docs = load<uint64_t>(idx + 26);
  LONGCTX_CHECK(seqs < (1ull << 40) && docs >= 1 && docs < (1ull << 40) &&
                    idx_size == kHeaderBytes + seqs * 12 + docs * 8,
                "shard index '%s': counts (%llu sequences, %llu document entries) do not match "
                "the file size %zu", idx_path.c_str(), static_cast<unsigned long long>(seqs),
                static_cast<unsigned long long>(docs), idx_size);

  bin_ = map_file(bin_path, &bin_size_);
  const uint8_t* lengths = idx + kHeaderBytes;
  const uint8_t* pointers = lengths + seqs * 4;
  const uint8_t* doc_index = pointers + seqs * 8;
  const int bytes = token_dtype_bytes(dtype_);
  // Sequences must tile .bin in order (Megatron writes them so); a document is a run of them.
  int64_t expected = 0;
  for (uint64_t s = 0; s < seqs; ++s) {
    const int32_t len = load<int32_t>(lengths + 4 * s);
    const int64_t ptr = load<int64_t>(pointers + 8 * s);
    LONGCTX_CHECK(len >= 0 && ptr == expected,
                  "shard index '%s': sequence %llu has length %d at byte %lld, expected byte %lld",
                  idx_path.c_str(), static_cast<unsigned long long>(s), len,
                  static_cast<long long>(ptr), static_cast<long long>(expected));
    expected += static_cast<int64_t>(len) * bytes;
  }
  LONGCTX_CHECK(static_cast<size_t>(expected) == bin_size_,
                "shard '%s': index describes %lld bytes of tokens but the file has %zu",
                bin_path.c_str(), static_cast<long long>(expected), bin_size_);
  doc_offsets_.resize(docs);
  int64_t prev = -1;
  for (uint64_t d = 0; d < docs; ++d) {
    const int64_t first = load<int64_t>(doc_index + 8 * d);
    LONGCTX_CHECK(first >= prev && first <= static_cast<int64_t>(seqs) && (d > 0 || first == 0) &&
                      (d + 1 < docs || first == static_cast<int64_t>(seqs)),
                  "shard index '%s': document index entry %llu = %lld is out of order or range",
                  idx_path.c_str(), static_cast<unsigned long long>(d),
                  static_cast<long long>(first));
    const int64_t byte = first < static_cast<int64_t>(seqs)
                             ? load<int64_t>(pointers + 8 * first)
                             : static_cast<int64_t>(bin_size_);
    doc_offsets_[d] = byte / bytes;
    prev = first;
  }
}

IndexedDataset::~IndexedDataset() {
  if (bin_) ::munmap(const_cast<uint8_t*>(bin_), bin_size_);
}

IndexedDataset::IndexedDataset(IndexedDataset&& o) noexcept
    : prefix_(std::move(o.prefix_)), dtype_(o.dtype_), bin_(o.bin_), bin_size_(o.bin_size_),
      doc_offsets_(std::move(o.doc_offsets_)) {
  o.bin_ = nullptr;
  o.bin_size_ = 0;
}

void IndexedDataset::read(int64_t doc, int64_t begin, int64_t count, int32_t* out) const {
  LONGCTX_CHECK(doc >= 0 && doc < documents() && begin >= 0 && count >= 0 &&
                    begin + count <= document_length(doc),
                "shard '%s': read of tokens [%lld, %lld) of document %lld out of range",
                prefix_.c_str(), static_cast<long long>(begin),
                static_cast<long long>(begin + count), static_cast<long long>(doc));
  const int64_t first = doc_offsets_[doc] + begin;
  if (dtype_ == TokenDType::kUInt16) {
    const uint8_t* p = bin_ + first * 2;
    for (int64_t i = 0; i < count; ++i) out[i] = load<uint16_t>(p + 2 * i);
  } else if (count > 0) {
    std::memcpy(out, bin_ + first * 4, static_cast<size_t>(count) * 4);
  }
}

void IndexedDataset::release_before(int64_t doc_end) const {
  LONGCTX_CHECK(doc_end >= 0 && doc_end <= documents(), "shard '%s': release of documents "
                "[0, %lld) out of range", prefix_.c_str(), static_cast<long long>(doc_end));
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t bytes = static_cast<size_t>(doc_offsets_[doc_end]) * token_dtype_bytes(dtype_);
  const size_t whole_pages = bytes / page * page;  // the mapping starts page-aligned
  // Advice only: a failure leaves the pages resident, which is harmless.
  if (bin_ && whole_pages > 0) ::madvise(const_cast<uint8_t*>(bin_), whole_pages, MADV_DONTNEED);
}

std::vector<int32_t> IndexedDataset::document(int64_t doc) const {
  LONGCTX_CHECK(doc >= 0 && doc < documents(), "shard '%s': document %lld out of range",
                prefix_.c_str(), static_cast<long long>(doc));
  std::vector<int32_t> out(static_cast<size_t>(document_length(doc)));
  read(doc, 0, static_cast<int64_t>(out.size()), out.data());
  return out;
}

}  // namespace longctx::data
