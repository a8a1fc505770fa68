// Rewrites a LLaMA GGUF file with its weight matrices stored as f32, bf16 or Q8_0 (ggml's
// block layout, so llama.cpp reads the result too), for inference in place from the mapped
// file. Norm weights and RoPE tensors stay f32; metadata is kept, general.file_type updated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/storage_type.h"

namespace longctx::serve {

struct QuantizeSummary {
  int64_t converted = 0;          // matrices rewritten in the new type
  std::vector<std::string> kept;  // matrices left as stored: rows not whole Q8_0 blocks
};

// Error names the file or tensor. A matrix whose row length is not a multiple of 32 cannot
// be Q8_0 (the format has no partial blocks): it keeps its stored type, as llama.cpp's
// quantizer falls back for such tensors, and is listed in the summary.
QuantizeSummary quantize_gguf(const std::string& in_path, const std::string& out_path, kernels::StorageType type);

}  // namespace longctx::serve
