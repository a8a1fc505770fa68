// Read-only memory-mapped file: the loaders (GGUF, safetensors) parse headers in
// place and convert tensors straight from the page cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace longctx::io {

class MappedFile {
 public:
  // Maps the whole file read-only; throws Error naming the path when it cannot be
  // opened or mapped. An empty file maps to size() == 0 and data() == nullptr.
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Writes bytes to path through a temporary file in the same folder, fsyncs it and
// renames it into place, so a crash leaves either the old file or the new one.
void write_file_atomic(const std::string& path, const void* data, size_t size);
// fsync on a directory (after renames inside it); throws Error naming the folder.
void fsync_directory(const std::string& dir);

}  // namespace longctx::io
