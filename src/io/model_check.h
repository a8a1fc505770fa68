// The consistency rules of a LLaMA model as a whole (config, tensors, tokenizer), shared by the
// readers and the writers: readers apply them to what a file holds, writers to what they are
// about to write, before writing anything, so no command leaves a file that longctx (or
// llama.cpp, or Hugging Face) would then refuse.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/tokenizer.h"
#include "model/llama.h"

namespace longctx::io {

// The tensors a config implies, in ParameterSet order, as (Hugging Face name, row-major shape).
// Readers check a file against this BEFORE allocating the parameter buffer, so a hostile header
// cannot make them allocate memory for tensors the file does not hold.
using ExpectedTensors = std::vector<std::pair<std::string, std::vector<int64_t>>>;
ExpectedTensors expected_tensors(const model::ModelConfig& config);

// "(32000, 4096)": a shape as error messages write it.
std::string shape_text(const std::vector<int64_t>& dims);

// A whole model in memory: the config validates (sizes, heads, RoPE spec), the parameter
// tensors are exactly those the config implies (names, shapes, order), and the tokenizer (may
// be null) fits: every id it produces has an embedding row (a Hugging Face model may have more
// rows than pieces, never fewer). Throws Error prefixed with `what` ("saving GGUF 'x.gguf'").
void check_model(const model::LlamaModel& model, const Tokenizer* tokenizer,
                 const std::string& what);

}  // namespace longctx::io
