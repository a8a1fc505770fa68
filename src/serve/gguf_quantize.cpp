#include "serve/gguf_quantize.h"

#include <memory>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "io/model_io.h"

namespace longctx::serve {

namespace {

io::GgmlType ggml_type_of(kernels::StorageType t) {
  switch (t) {
    case kernels::StorageType::kF32: return io::GgmlType::kF32;
    case kernels::StorageType::kBF16: return io::GgmlType::kBF16;
    case kernels::StorageType::kQ8_0: return io::GgmlType::kQ8_0;
  }
  return io::GgmlType::kF32;
}

// llama.cpp's llama_ftype values for general.file_type.
int64_t file_type_of(kernels::StorageType t) {
  switch (t) {
    case kernels::StorageType::kF32: return 0;
    case kernels::StorageType::kBF16: return 32;
    case kernels::StorageType::kQ8_0: return 7;
  }
  return 0;
}

}  // namespace

QuantizeSummary quantize_gguf(const std::string& in_path, const std::string& out_path, kernels::StorageType type) {
  QuantizeSummary summary;
  const io::GgufFile g = io::GgufFile::open(in_path);
  io::model_config_from_gguf(g);  // a LLaMA model, or Error
  io::GgufMetadata md = g.metadata();
  bool has_file_type = false;
  for (auto& [key, value] : md)
    if (key == "general.file_type") {
      value = io::GgufValue::scalar_int(io::GgufType::kU32, file_type_of(type));
      has_file_type = true;
    }
  if (!has_file_type) md.emplace_back("general.file_type", io::GgufValue::scalar_int(io::GgufType::kU32, file_type_of(type)));
  std::vector<io::GgufWriteTensor> out;
  std::vector<std::unique_ptr<uint8_t[]>> storage;
  for (const io::GgufTensorInfo& t : g.tensors()) {
    io::GgufWriteTensor w{t.name, t.ne, t.type, t.data};
    // Weight matrices of the model (not RoPE factor tensors) take the new type.
    bool matrix = t.ne.size() == 2 && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
    if (matrix) {
      try {
        io::hf_name_from_gguf(t.name);
      } catch (const Error&) {
        matrix = false;
      }
    }
    if (matrix && t.type != ggml_type_of(type)) {
      const int64_t cols = t.ne[0], rows = t.ne[1];
      if (type == kernels::StorageType::kQ8_0 && cols % kernels::kQ8_0Block != 0) {
        summary.kept.push_back(t.name);
        out.push_back(w);
        continue;
      }
      const size_t rb = kernels::storage_row_bytes(type, cols);
      storage.emplace_back(new uint8_t[rb * rows]);
      std::vector<float> f32(static_cast<size_t>(rows * cols));  // (rows, cols)
      g.tensor_to_f32(t, f32.data());
      kernels::quantize_rows(storage.back().get(), type, f32.data(), rows, cols);
      w.type = ggml_type_of(type);
      w.data = storage.back().get();
      ++summary.converted;
    }
    out.push_back(w);
  }
  io::write_gguf(out_path, md, out);
  return summary;
}

}  // namespace longctx::serve
