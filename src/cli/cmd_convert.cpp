// `longctx convert --in <gguf|hf folder> --out <x.gguf|folder> [--dtype f32|f16|bf16]`:
// model conversion between GGUF and Hugging Face folders, both ways, keeping the
// position encoding (config.json rope keys <-> llama.rope.* keys) and the tokenizer.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "cli/registry.h"
#include "core/error.h"
#include "io/model_io.h"
#include "rope/rope_spec.h"

namespace longctx::cli {
namespace {

struct ConvertOptions {
  std::string in, out, to, dtype = "f32", tokenizer, rope;
};

void run_convert(const ConvertOptions& o) {
  io::LoadedModel lm = io::load_model(o.in);
  if (!o.tokenizer.empty()) lm.tokenizer = io::Tokenizer::from_file(o.tokenizer);
  if (!o.rope.empty()) {
    try {
      lm.model.config.rope = rope::parse_rope_spec(o.rope);
      lm.model.config.validate();
    } catch (const Error& e) {
      throw e.with_context("--rope");
    }
  }
  std::string to = o.to;
  if (to.empty()) {
    const std::string ext = std::filesystem::path(o.out).extension().string();
    to = ext == ".gguf" ? "gguf" : "hf";
  }
  LONGCTX_CHECK(to == "gguf" || to == "hf", "--to: '%s' (gguf or hf)", to.c_str());
  DType dt;
  try {
    dt = dtype_from_name(o.dtype);
  } catch (const Error& e) {
    throw e.with_context("--dtype");
  }
  LONGCTX_CHECK(dt == DType::kF32 || dt == DType::kF16 || dt == DType::kBF16,
                "--dtype: '%s' (f32, f16 or bf16)", o.dtype.c_str());
  const io::Tokenizer* tok = lm.tokenizer ? &*lm.tokenizer : nullptr;
  if (to == "gguf") io::save_gguf_model(lm.model, tok, o.out, dt);
  else io::save_hf_model(lm.model, tok, o.out, dt);
  const auto& c = lm.model.config;
  std::printf("converted %s -> %s (%s, %s): dim %lld, %lld layers, %lld/%lld heads, vocab %lld, "
              "rope %s%s\n", o.in.c_str(), o.out.c_str(), to == "gguf" ? "GGUF" : "Hugging Face",
              o.dtype.c_str(), static_cast<long long>(c.dim), static_cast<long long>(c.n_layers),
              static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads),
              static_cast<long long>(c.vocab_size), rope::format_rope_spec(c.rope).c_str(),
              tok ? "" : ", no tokenizer");
}

void add_convert_command(CLI::App& app) {
  static ConvertOptions o;
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a model between GGUF and a Hugging Face folder (either direction)");
  cmd->add_option("--in", o.in, "Source: a .gguf file or a Hugging Face folder")->required();
  cmd->add_option("-o,--out", o.out, "Destination: x.gguf, or a folder for Hugging Face")->required();
  cmd->add_option("--to", o.to, "Output format: gguf or hf (default: from --out's extension)");
  cmd->add_option("--dtype", o.dtype, "Weight storage: f32, f16 or bf16")->capture_default_str();
  cmd->add_option("--tokenizer", o.tokenizer, "SentencePiece .model to use instead of the source's");
  cmd->add_option("--rope", o.rope, "Replace the position encoding, e.g. abf:base=500000");
  cmd->callback([] { run_convert(o); });
}

const CommandRegistrar kRegistrar("convert", add_convert_command);

}  // namespace
}  // namespace longctx::cli
