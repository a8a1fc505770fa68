// SentencePiece tokenizer through the Debian library.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace longctx::io {

class Tokenizer {
 public:
  // Loads a SentencePiece .model file; throws Error naming the file.
  static Tokenizer from_file(const std::string& path);
  // Loads from a serialized ModelProto (e.g. one assembled from a GGUF vocabulary).
  static Tokenizer from_serialized_proto(std::string_view bytes, const std::string& origin);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_bos = false,
                              bool add_eos = false) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string piece(int32_t id) const;
  float score(int32_t id) const;
  int32_t piece_to_id(std::string_view piece) const;  // unk_id() when absent
  bool is_control(int32_t id) const;
  bool is_byte(int32_t id) const;
  bool is_unknown(int32_t id) const;
  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  const std::string& origin() const { return origin_; }
  std::string serialized_proto() const;

 private:
  Tokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string origin_;
};

}  // namespace longctx::io
