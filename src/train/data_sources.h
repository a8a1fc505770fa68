// Training data sources: shard folders written by `longctx data prepare` / `data default`
// (train.{bin,idx}, valid.{bin,idx}, dataset.json, usually tokenizer.model), each with a share
// of the training sequences ("DIR" or "DIR:SHARE" on the command line).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longctx::train {

struct DataSource {
  std::string dir;
  double share = 1.0;        // relative; shares are normalised over the sources
  std::string train_prefix;  // dir/train
  std::string valid_prefix;  // dir/valid ("" when the folder has no validation split)
  int64_t vocab_size = 0;
  int32_t bos_id = 1, eos_id = 2, pad_id = 0;
  std::string tokenizer_path;  // "" when the folder names none that exists
};

// Parses and opens the sources' dataset.json; Error names the folder and field. All sources
// must share one vocabulary (size, BOS, EOS).
std::vector<DataSource> resolve_sources(const std::vector<std::string>& specs);

}  // namespace longctx::train
