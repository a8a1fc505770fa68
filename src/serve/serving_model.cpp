#include "serve/serving_model.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/timer.h"
#include "io/gguf.h"
#include "io/gguf_vocab.h"
#include "io/model_check.h"
#include "io/model_io.h"
#include "rope/rope_spec.h"

namespace longctx::serve {

namespace fs = std::filesystem;
using kernels::StorageType;

uint64_t bytes_checksum(const void* data, size_t n, uint64_t seed) {
  constexpr size_t kChunk = size_t(1) << 20;
  const auto* p = static_cast<const uint8_t*>(data);
  const int64_t chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
  std::vector<uint64_t> part(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t a = static_cast<size_t>(c) * kChunk, b = std::min(n, a + kChunk);
    uint64_t h = mix64(static_cast<uint64_t>(c));
    size_t i = a;
    for (; i + 8 <= b; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = mix64(h ^ w);
    }
    for (; i < b; ++i) h = mix64(h ^ p[i]);
    part[static_cast<size_t>(c)] = h;
  }
  uint64_t h = mix64(seed ^ n);
  for (const uint64_t x : part) h = mix64(h ^ x);
  return h;
}

uint64_t ServingModel::checksum() const {
  std::call_once(checksum_once_, [this] {
    uint64_t h = 0;
    auto add = [&](const void* p, size_t n) { h = bytes_checksum(p, n, h); };
    auto add_matrix = [&](const kernels::TypedMatrix& m) {
      add(m.data, static_cast<size_t>(m.rows) * m.row_bytes);
      h = mix64(h ^ static_cast<uint64_t>(m.type));
    };
    const int64_t C = weights.config.dim;
    add_matrix(weights.embedding);
    for (const model::InferenceLayer& l : weights.layers) {
      add(l.attn_norm, static_cast<size_t>(C) * 4);
      for (const model::LinearWeight* lw : {&l.wqkv, &l.wo, &l.w_gate_up, &l.w_down})
        for (const kernels::TypedMatrix& m : lw->parts) add_matrix(m);
      add(l.ffn_norm, static_cast<size_t>(C) * 4);
    }
    add(weights.final_norm, static_cast<size_t>(C) * 4);
    add_matrix(weights.lm_head);
    checksum_ = h;
  });
  return checksum_;
}

namespace {

// f32 copy of a GGUF tensor, owned by the weights.
const float* owned_f32(const io::GgufFile& g, const io::GgufTensorInfo& t, model::InferenceWeights& w) {
  std::shared_ptr<float[]> buf(new float[static_cast<size_t>(t.numel())]);
  g.tensor_to_f32(t, buf.get());
  w.keep_alive.push_back(buf);
  return buf.get();
}

model::InferenceWeights weights_from_gguf(const std::shared_ptr<io::GgufFile>& g,
                                          const model::ModelConfig& c) {
  model::InferenceWeights w;
  w.config = c;
  w.keep_alive.push_back(g);
  const std::string& path = g->origin();
  // Matrix: used in place when stored as f32, bf16 or Q8_0; f16 widened to f32.
  auto matrix = [&](const io::GgufTensorInfo& t, int64_t rows, int64_t cols) {
    switch (t.type) {
      case io::GgmlType::kF32: return kernels::typed_matrix(StorageType::kF32, t.data, rows, cols);
      case io::GgmlType::kBF16: return kernels::typed_matrix(StorageType::kBF16, t.data, rows, cols);
      case io::GgmlType::kQ8_0: return kernels::typed_matrix(StorageType::kQ8_0, t.data, rows, cols);
      case io::GgmlType::kF16: return kernels::typed_matrix(StorageType::kF32, owned_f32(*g, t, w), rows, cols);
      default:
        throw_error("GGUF '%s': tensor '%s' is %s; inference reads f32, f16, bf16 and q8_0", path.c_str(),
                    t.name.c_str(), io::ggml_type_name(t.type));
    }
  };
  auto norm = [&](const io::GgufTensorInfo& t) {
    return t.type == io::GgmlType::kF32 ? reinterpret_cast<const float*>(t.data) : owned_f32(*g, t, w);
  };
  std::vector<const io::GgufTensorInfo*> found;
  for (const auto& [hf, shape] : io::expected_tensors(c)) {
    const std::string gname = io::gguf_name_from_hf(hf);
    const io::GgufTensorInfo* t = g->find_tensor(gname);
    if (!t) throw_error("GGUF '%s': missing tensor '%s'", path.c_str(), gname.c_str());
    const std::vector<int64_t> ne(shape.rbegin(), shape.rend());
    if (t->ne != ne)
      throw_error("GGUF '%s': tensor '%s' has ne %s where the metadata implies %s", path.c_str(),
                  gname.c_str(), io::shape_text(t->ne).c_str(), io::shape_text(ne).c_str());
    found.push_back(t);
  }
  // found[] follows expected_tensors' order: embedding, 9 per layer, norm, [head].
  size_t i = 0;
  auto next = [&] { return found[i++]; };
  auto mat = [&](const io::GgufTensorInfo* t) { return matrix(*t, t->ne[1], t->ne[0]); };
  w.embedding = mat(next());
  for (int64_t l = 0; l < c.n_layers; ++l) {
    model::InferenceLayer L;
    L.attn_norm = norm(*next());
    for (int part = 0; part < 3; ++part) L.wqkv.append(mat(next()));
    L.wo.append(mat(next()));
    L.ffn_norm = norm(*next());
    L.w_gate_up.append(mat(next()));
    L.w_gate_up.append(mat(next()));
    L.w_down.append(mat(next()));
    w.layers.push_back(std::move(L));
  }
  w.final_norm = norm(*next());
  w.lm_head = c.tied_embeddings ? w.embedding : mat(next());
  return w;
}

}  // namespace

std::unique_ptr<ServingModel> open_serving_model(const ModelLoadOptions& o) {
  Timer timer;
  auto m = std::make_unique<ServingModel>();
  m->path = o.path;
  m->name = fs::path(o.path).filename().replace_extension().string();
  if (m->name.empty()) m->name = fs::path(o.path).parent_path().filename().string();
  if (io::detect_model_format(o.path) == io::ModelFormat::kGguf) {
    auto g = std::make_shared<io::GgufFile>(io::GgufFile::open(o.path));
    const model::ModelConfig c = io::model_config_from_gguf(*g);
    m->weights = weights_from_gguf(g, c);
    m->mapped = true;
    if (g->find("tokenizer.ggml.tokens")) m->tokenizer = io::tokenizer_from_gguf(*g);
  } else {
    auto lm = std::make_shared<io::LoadedModel>(io::load_model(o.path));
    m->weights = model::InferenceWeights::view(lm->model);
    m->weights.keep_alive.push_back(lm);
    if (lm->tokenizer) m->tokenizer = std::move(lm->tokenizer);
  }
  m->trained_context = m->weights.config.max_seq_len;
  if (!o.tokenizer.empty()) m->tokenizer = io::Tokenizer::from_file(o.tokenizer);
  LONGCTX_CHECK(m->tokenizer.has_value(), "--model '%s' carries no tokenizer; pass --tokenizer <file.model>",
                o.path.c_str());
  LONGCTX_CHECK(m->tokenizer->vocab_size() <= m->weights.config.vocab_size,
                "--tokenizer: %d pieces but the model has only %lld embedding rows",
                m->tokenizer->vocab_size(), static_cast<long long>(m->weights.config.vocab_size));
  if (!o.rope.empty()) {
    try {
      m->weights.config.rope = rope::parse_rope_spec(o.rope);
      m->weights.config.validate();
    } catch (const Error& e) {
      throw e.with_context("--rope '" + o.rope + "'");
    }
  }
  if (!o.weights.empty()) {
    const StorageType t = kernels::parse_storage_type(o.weights, "--weights");
    m->weights = m->weights.converted(t);
    m->mapped = false;
  }
  m->weights.validate();
  m->open_seconds = timer.seconds();
  return m;
}

}  // namespace longctx::serve
