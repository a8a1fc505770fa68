// Rewrites a LLaMA GGUF file with its weight matrices stored as f32, bf16 or Q8_0 (ggml's
// block layout, so llama.cpp reads the result too), for inference in place from the mapped
// file. Norm weights and RoPE tensors stay f32; metadata is kept, general.file_type updated.
#pragma once
#include <string>

#include "kernels/storage_type.h"

namespace longctx::serve {

// Error names the file or tensor; matrices whose row length is not a multiple of 32 are
// refused for Q8_0 (the GGUF format has no partial blocks).
void quantize_gguf(const std::string& in_path, const std::string& out_path, kernels::StorageType type);

}  // namespace longctx::serve
