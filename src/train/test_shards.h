// Test helper (header only, not part of the library): small token shards in the layout of
// `longctx data prepare`, whose documents a tiny model can learn quickly ("counting"
// documents: a start id and a stride, then id_{i+1} = id_i + stride, wrapping inside
// [3, vocab)). Ids 1 and 2 are BOS and EOS, 0 pads.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/hash.h"
#include "data/indexed_dataset.h"

namespace longctx::train::testing {

inline std::filesystem::path temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("longctx-train-test-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct CountingShards {
  int64_t vocab = 64;
  int train_documents = 40;
  int valid_documents = 6;
  int64_t min_length = 40, max_length = 400;
  uint64_t seed = 1;
};

inline void write_counting_shards(const std::filesystem::path& dir, const CountingShards& o) {
  std::filesystem::create_directories(dir);
  uint64_t draw = 0;
  auto next = [&](uint64_t n) { return mix64(o.seed ^ mix64(++draw)) % n; };
  for (const auto& [split, count] :
       {std::pair{"train", o.train_documents}, std::pair{"valid", o.valid_documents}}) {
    data::IndexedDatasetWriter w((dir / split).string(), data::TokenDType::kUInt16);
    for (int d = 0; d < count; ++d) {
      const int64_t len =
          o.min_length +
          static_cast<int64_t>(next(static_cast<uint64_t>(o.max_length - o.min_length + 1)));
      const int64_t span = o.vocab - 3;
      int64_t id = static_cast<int64_t>(next(static_cast<uint64_t>(span)));
      const int64_t stride = 1 + static_cast<int64_t>(next(3));
      std::vector<int32_t> doc;
      for (int64_t i = 0; i < len; ++i, id = (id + stride) % span)
        doc.push_back(static_cast<int32_t>(3 + id));
      w.add_document(doc);
    }
    w.finish();
  }
  std::ofstream(dir / "dataset.json")
      << "{\"tokenizer\": {\"path\": \"\", \"vocab_size\": " << o.vocab
      << ", \"bos_id\": 1, \"eos_id\": 2, \"pad_id\": 0}}\n";
}

}  // namespace longctx::train::testing
