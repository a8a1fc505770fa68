// `longctx quantize --model in.gguf --out out.gguf --type q8_0`: the model's weight matrices
// rewritten as f32, bf16 or Q8_0 (serve/gguf_quantize.h), e.g. for inference in place and
// for comparing with llama.cpp on the same Q8_0 file.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/registry.h"
#include "serve/gguf_quantize.h"

namespace longctx::cli {
namespace {

struct QuantizeOptions {
  std::string model, out, type = "q8_0";
};

void add_quantize_command(CLI::App& app) {
  static QuantizeOptions o;
  CLI::App* cmd = app.add_subcommand("quantize", "Rewrite a GGUF model with f32, bf16 or q8_0 weight matrices");
  cmd->add_option("--model", o.model, "Input .gguf file")->required();
  cmd->add_option("--out", o.out, "Output .gguf file (written atomically)")->required();
  cmd->add_option("--type", o.type, "f32, bf16 or q8_0")->capture_default_str();
  cmd->callback([] {
    const serve::QuantizeSummary s = serve::quantize_gguf(o.model, o.out, kernels::parse_storage_type(o.type, "--type"));
    std::fprintf(stderr, "wrote %s (%lld matrices as %s", o.out.c_str(), static_cast<long long>(s.converted), o.type.c_str());
    if (!s.kept.empty())
      std::fprintf(stderr, "; %zu kept as stored, their rows not whole %s blocks, e.g. %s", s.kept.size(), o.type.c_str(),
                   s.kept.front().c_str());
    std::fprintf(stderr, ")\n");
  });
}

const CommandRegistrar kRegistrar("quantize", add_quantize_command);

}  // namespace
}  // namespace longctx::cli
