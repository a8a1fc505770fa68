#include "data/sampler.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"

namespace longctx::data {
namespace {

// Uniform in [0, 1) from a hash; 53 bits.
double unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// A small deterministic generator (SplitMix64 stream); the standard distributions are not
// portable across standard libraries, so bounded draws use multiply-shift.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_++ * 0x2545F4914F6CDD1Dull); }
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

 private:
  uint64_t state_;
};

constexpr uint64_t kTagEpochOrder = 0x6F72646572ull;   // "order"
constexpr uint64_t kTagFraction = 0x6672616374ull;     // "fract"

}  // namespace

PackMode parse_pack_mode(const std::string& name) {
  if (name == "packed") return PackMode::kPacked;
  if (name == "padded") return PackMode::kPadded;
  throw_error("sampler: pack mode '%s' unknown (packed or padded)", name.c_str());
}

const char* pack_mode_name(PackMode mode) {
  return mode == PackMode::kPacked ? "packed" : "padded";
}

std::vector<LengthBucketWeight> parse_bucket_weights(const std::string& spec) {
  std::vector<LengthBucketWeight> out;
  if (spec.empty()) return out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t colon = item.find(':');
    LONGCTX_CHECK(colon != std::string::npos,
                  "--upsample: '%s' is not min_tokens:weight (e.g. 0:1,16384:4)", item.c_str());
    LengthBucketWeight b;
    try {
      size_t used = 0;
      b.min_tokens = std::stoll(item.substr(0, colon), &used);
      LONGCTX_CHECK(used == colon, "--upsample: bad token count in '%s'", item.c_str());
      const std::string w = item.substr(colon + 1);
      b.weight = std::stod(w, &used);
      LONGCTX_CHECK(used == w.size(), "--upsample: bad weight in '%s'", item.c_str());
    } catch (const std::logic_error&) {
      throw_error("--upsample: '%s' is not min_tokens:weight", item.c_str());
    }
    LONGCTX_CHECK(b.min_tokens >= 0 && b.weight >= 0 && std::isfinite(b.weight) && b.weight <= 1e4,
                  "--upsample: '%s' needs min_tokens >= 0 and 0 <= weight <= 10000", item.c_str());
    out.push_back(b);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.min_tokens < b.min_tokens; });
  return out;
}

SequenceSampler::SequenceSampler(const std::vector<std::string>& shard_prefixes,
                                 SamplerOptions options)
    : options_(std::move(options)) {
  LONGCTX_CHECK(!shard_prefixes.empty(), "sampler: no shards given");
  LONGCTX_CHECK(options_.seq_len >= 1 && options_.seq_len <= (int64_t{1} << 24),
                "sampler: sequence length %lld outside [1, 16M]",
                static_cast<long long>(options_.seq_len));
  LONGCTX_CHECK(options_.world_size >= 1 && options_.rank >= 0 &&
                    options_.rank < options_.world_size,
                "sampler: rank %d outside world size %d", options_.rank, options_.world_size);
  for (const auto& prefix : shard_prefixes) {
    shards_.push_back(std::make_unique<IndexedDataset>(prefix));
    const auto& shard = *shards_.back();
    for (int64_t d = 0; d < shard.documents(); ++d) {
      doc_location_.emplace_back(static_cast<int32_t>(shards_.size() - 1), d);
      doc_lengths_.push_back(shard.document_length(d));
    }
  }
  for (int64_t g = options_.rank; g < total_documents(); g += options_.world_size)
    if (framed_length(g) > 0 && document_weight(g) > 0) rank_docs_.push_back(g);
  LONGCTX_CHECK(!rank_docs_.empty(),
                "sampler: rank %d of %d has no documents with positive weight (%lld documents in "
                "the shards)", options_.rank, options_.world_size,
                static_cast<long long>(total_documents()));
  enter_epoch(0);
}

SequenceSampler::~SequenceSampler() = default;

double SequenceSampler::document_weight(int64_t doc) const {
  double w = 1.0;
  for (const auto& b : options_.upsample)
    if (doc_lengths_[doc] >= b.min_tokens) w = b.weight;
  return w;
}

std::vector<int64_t> SequenceSampler::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order;
  order.reserve(rank_docs_.size());
  const uint64_t base = mix64(options_.seed ^ mix64(static_cast<uint64_t>(epoch) + kTagFraction));
  for (int64_t g : rank_docs_) {
    const double w = document_weight(g);
    int64_t copies = static_cast<int64_t>(std::floor(w));
    if (unit(mix64(base ^ static_cast<uint64_t>(g))) < w - std::floor(w)) ++copies;
    for (int64_t c = 0; c < copies; ++c) order.push_back(g);
  }
  Rng rng(mix64(options_.seed ^ kTagEpochOrder) ^
          mix64(static_cast<uint64_t>(epoch) * 1000003u + static_cast<uint64_t>(options_.rank)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

void SequenceSampler::enter_epoch(int64_t epoch) {
  // An epoch can come out empty when every weight is fractional; a few tries always suffice
  // unless the weights are absurdly small.
  for (int tries = 0; tries < 1000; ++tries, ++epoch) {
    order_ = epoch_order(epoch);
    if (!order_.empty()) {
      cursor_.epoch = epoch;
      cursor_.entry = 0;
      cursor_.offset = 0;
      return;
    }
  }
  throw_error("sampler: 1000 consecutive empty epochs; the upsampling weights are too small");
}

void SequenceSampler::advance_entry() {
  cursor_.offset = 0;
  if (++cursor_.entry >= static_cast<int64_t>(order_.size())) enter_epoch(cursor_.epoch + 1);
}

int64_t SequenceSampler::framed_length(int64_t doc) const {
  return doc_lengths_[doc] + (options_.bos_id >= 0) + (options_.eos_id >= 0);
}

void SequenceSampler::read_framed(int64_t doc, int64_t begin, int64_t count, int32_t* out) const {
  const int64_t bos = options_.bos_id >= 0 ? 1 : 0;
  const int64_t len = doc_lengths_[doc];
  int64_t pos = begin;
  const int64_t end = begin + count;
  if (bos && pos == 0 && pos < end) {
    *out++ = options_.bos_id;
    ++pos;
  }
  const int64_t body_end = std::min(end, bos + len);
  if (pos < body_end) {
    const auto& [shard, local] = doc_location_[doc];
    shards_[shard]->read(local, pos - bos, body_end - pos, out);
    out += body_end - pos;
    pos = body_end;
  }
  if (pos < end) *out = options_.eos_id;  // only the EOS can remain
}

void SequenceSampler::next_packed(Sequence& out) {
  const int64_t T = options_.seq_len;
  int32_t segment = 0;
  int64_t filled = 0;
  bool boundary_after_last = false;
  while (filled < T) {
    const int64_t doc = current_doc();
    const int64_t take = std::min(framed_length(doc) - cursor_.offset, T - filled);
    read_framed(doc, cursor_.offset, take, out.inputs.data() + filled);
    std::fill_n(out.segment_ids.data() + filled, take, segment);
    filled += take;
    cursor_.offset += take;
    boundary_after_last = cursor_.offset == framed_length(doc);
    if (boundary_after_last) {
      advance_entry();
      ++segment;
    }
  }
  // The target of the last input is the token the cursor now points at (not consumed).
  int32_t peek = 0;
  read_framed(current_doc(), cursor_.offset, 1, &peek);
  for (int64_t i = 0; i + 1 < T; ++i) {
    const bool cross = out.segment_ids[i] != out.segment_ids[i + 1];
    out.targets[i] = cross && options_.mask_cross_document_targets ? -1 : out.inputs[i + 1];
  }
  out.targets[T - 1] =
      boundary_after_last && options_.mask_cross_document_targets ? -1 : peek;
}

void SequenceSampler::next_padded(Sequence& out) {
  const int64_t T = options_.seq_len;
  const int64_t doc = current_doc();
  const int64_t framed = framed_length(doc);
  const int64_t start = cursor_.offset;
  const int64_t count = std::min(T + 1, framed - start);  // inputs plus the last target
  std::vector<int32_t> window(static_cast<size_t>(count));
  read_framed(doc, start, count, window.data());
  for (int64_t i = 0; i < T; ++i) {
    const bool real = i < count;
    out.inputs[i] = real ? window[i] : options_.pad_id;
    out.targets[i] = i + 1 < count ? window[i + 1] : -1;
    out.segment_ids[i] = real ? 0 : -1;
  }
  if (start + T < framed - 1)
    cursor_.offset = start + T;
  else
    advance_entry();
}

void SequenceSampler::next(Sequence& out) {
  const size_t T = static_cast<size_t>(options_.seq_len);
  out.inputs.resize(T);
  out.targets.resize(T);
  out.segment_ids.resize(T);
  if (options_.mode == PackMode::kPacked)
    next_packed(out);
  else
    next_padded(out);
  ++cursor_.sequences;
}

void SequenceSampler::next_batch(int64_t batch, int32_t* inputs, int32_t* targets,
                                 int32_t* segment_ids) {
  Sequence s;
  const int64_t T = options_.seq_len;
  for (int64_t b = 0; b < batch; ++b) {
    next(s);
    if (inputs) std::copy(s.inputs.begin(), s.inputs.end(), inputs + b * T);
    if (targets) std::copy(s.targets.begin(), s.targets.end(), targets + b * T);
    if (segment_ids) std::copy(s.segment_ids.begin(), s.segment_ids.end(), segment_ids + b * T);
  }
}

nlohmann::json SequenceSampler::cursor_json() const {
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : options_.upsample) buckets.push_back({b.min_tokens, b.weight});
  return {{"version", 1},
          {"config",
           {{"seq_len", options_.seq_len},
            {"mode", pack_mode_name(options_.mode)},
            {"seed", options_.seed},
            {"rank", options_.rank},
            {"world_size", options_.world_size},
            {"documents", total_documents()},
            {"bos_id", options_.bos_id},
            {"eos_id", options_.eos_id},
            {"upsample", buckets}}},
          {"epoch", cursor_.epoch},
          {"entry", cursor_.entry},
          {"offset", cursor_.offset},
          {"sequences", cursor_.sequences}};
}

void SequenceSampler::restore(const nlohmann::json& j) {
  try {
    LONGCTX_CHECK(j.at("version").get<int>() == 1, "sampler cursor: version %d unknown",
                  j.at("version").get<int>());
    const nlohmann::json mine = cursor_json().at("config");
    const nlohmann::json& theirs = j.at("config");
    for (auto it = mine.begin(); it != mine.end(); ++it)
      LONGCTX_CHECK(theirs.contains(it.key()) && theirs[it.key()] == it.value(),
                    "sampler cursor: field '%s' is %s in the cursor but %s in this run",
                    it.key().c_str(),
                    theirs.contains(it.key()) ? theirs[it.key()].dump().c_str() : "absent",
                    it.value().dump().c_str());
    const int64_t epoch = j.at("epoch").get<int64_t>();
    const int64_t entry = j.at("entry").get<int64_t>();
    const int64_t offset = j.at("offset").get<int64_t>();
    LONGCTX_CHECK(epoch >= 0, "sampler cursor: negative epoch");
    order_ = epoch_order(epoch);
    LONGCTX_CHECK(entry >= 0 && entry < static_cast<int64_t>(order_.size()),
                  "sampler cursor: entry %lld outside epoch %lld of %zu entries",
                  static_cast<long long>(entry), static_cast<long long>(epoch), order_.size());
    LONGCTX_CHECK(offset >= 0 && offset < framed_length(order_[entry]),
                  "sampler cursor: offset %lld outside its document",
                  static_cast<long long>(offset));
    cursor_.epoch = epoch;
    cursor_.entry = entry;
    cursor_.offset = offset;
    cursor_.sequences = j.at("sequences").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw_error("sampler cursor: malformed JSON: %s", e.what());
  }
}

}  // namespace longctx::data
