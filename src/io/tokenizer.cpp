#include "io/tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"

namespace longctx::io {

Tokenizer Tokenizer::from_file(const std::string& path) {
  Tokenizer t;
  t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = t.sp_->Load(path);
  if (!status.ok())
    throw_error("loading tokenizer '%s': %s", path.c_str(), status.ToString().c_str());
  t.origin_ = path;
  return t;
}

Tokenizer Tokenizer::from_serialized_proto(std::string_view bytes, const std::string& origin) {
  Tokenizer t;
  t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = t.sp_->LoadFromSerializedProto(bytes);
  if (!status.ok())
    throw_error("loading tokenizer from '%s': %s", origin.c_str(), status.ToString().c_str());
  t.origin_ = origin;
  return t;
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool add_eos) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw_error("tokenizer '%s': encode failed: %s", origin_.c_str(),
                                status.ToString().c_str());
  std::vector<int32_t> out;
  out.reserve(ids.size() + 2);
  if (add_bos && bos_id() >= 0) out.push_back(bos_id());
  out.insert(out.end(), ids.begin(), ids.end());
  if (add_eos && eos_id() >= 0) out.push_back(eos_id());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> in(ids.begin(), ids.end());
  for (int id : in)
    if (id < 0 || id >= vocab_size())
      throw_error("tokenizer '%s': token id %d outside vocabulary of %d", origin_.c_str(), id,
                  vocab_size());
  std::string out;
  const auto status = sp_->Decode(in, &out);
  if (!status.ok()) throw_error("tokenizer '%s': decode failed: %s", origin_.c_str(),
                                status.ToString().c_str());
  return out;
}

std::string Tokenizer::piece(int32_t id) const { return sp_->IdToPiece(id); }
float Tokenizer::score(int32_t id) const { return sp_->GetScore(id); }
int32_t Tokenizer::piece_to_id(std::string_view piece) const { return sp_->PieceToId(piece); }
bool Tokenizer::is_control(int32_t id) const { return sp_->IsControl(id); }
bool Tokenizer::is_byte(int32_t id) const { return sp_->IsByte(id); }
bool Tokenizer::is_unknown(int32_t id) const { return sp_->IsUnknown(id); }
int32_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }
int32_t Tokenizer::bos_id() const { return sp_->bos_id(); }
int32_t Tokenizer::eos_id() const { return sp_->eos_id(); }
int32_t Tokenizer::unk_id() const { return sp_->unk_id(); }
int32_t Tokenizer::pad_id() const { return sp_->pad_id(); }
std::string Tokenizer::serialized_proto() const { return sp_->serialized_model_proto(); }

}  // namespace longctx::io
