#include "model/inference_weights.h"

#include <algorithm>
#include <map>
#include <vector>

#include "core/buffer.h"
#include "core/error.h"

namespace longctx::model {

using kernels::StorageType;
using kernels::TypedMatrix;

int64_t LinearWeight::rows() const {
  int64_t r = 0;
  for (const TypedMatrix& p : parts) r += p.rows;
  return r;
}

size_t LinearWeight::bytes() const {
  size_t b = 0;
  for (const TypedMatrix& p : parts) b += static_cast<size_t>(p.rows) * p.row_bytes;
  return b;
}

void LinearWeight::append(const TypedMatrix& m) {
  if (!parts.empty()) {
    TypedMatrix& last = parts.back();
    if (last.type == m.type && last.cols == m.cols && last.row_bytes == m.row_bytes &&
        last.row(last.rows) == static_cast<const uint8_t*>(m.data)) {
      last.rows += m.rows;
      return;
    }
  }
  parts.push_back(m);
}

void linear_forward(float* out, int64_t ldo, const float* x, int64_t N, const LinearWeight& w,
                    bool accumulate) {
  int64_t col = 0;
  for (const TypedMatrix& p : w.parts) {
    kernels::typed_matmul(out + col, ldo, x, N, p, accumulate);
    col += p.rows;
  }
}

InferenceWeights InferenceWeights::view(const LlamaModel& model) {
  const ModelConfig& c = model.config;
  const ParameterSet& p = model.params;
  const int64_t C = c.dim, D = c.resolved_head_dim(), QKV = (c.n_heads + 2 * c.n_kv_heads) * D,
                F = c.ffn_dim, V = c.vocab_size;
  auto f32 = [](const float* data, int64_t rows, int64_t cols) {
    return kernels::typed_matrix(StorageType::kF32, data, rows, cols);
  };
  InferenceWeights w;
  w.config = c;
  w.embedding = f32(p.embedding(), V, C);
  w.final_norm = p.final_norm();
  w.lm_head = f32(p.lm_head(), V, C);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights lw = p.layer(l);
    InferenceLayer il;
    il.attn_norm = lw.attn_norm;
    il.ffn_norm = lw.ffn_norm;
    il.wqkv.append(f32(lw.wqkv, QKV, C));
    il.wo.append(f32(lw.wo, C, c.n_heads * D));
    il.w_gate_up.append(f32(lw.w_gate_up, 2 * F, C));
    il.w_down.append(f32(lw.w_down, C, F));
    w.layers.push_back(std::move(il));
  }
  return w;
}

namespace {

// Copies m into owned storage of `type` (row by row through f32).
TypedMatrix convert_matrix(const TypedMatrix& m, StorageType type,
                           std::vector<std::shared_ptr<const void>>& owned) {
  if (m.type == type) return m;
  const size_t rb = kernels::storage_row_bytes(type, m.cols);
  std::shared_ptr<uint8_t> storage(static_cast<uint8_t*>(aligned_alloc_bytes(rb * m.rows)), AlignedFree());
  constexpr int64_t kRows = 64;
  std::vector<float> tmp(static_cast<size_t>(kRows * m.cols));  // (kRows, cols)
  for (int64_t r0 = 0; r0 < m.rows; r0 += kRows) {
    const int64_t n = std::min(kRows, m.rows - r0);
    kernels::dequantize_rows(tmp.data(), m.type, m.row(r0), m.row_bytes, n, m.cols);
    kernels::quantize_rows(storage.get() + r0 * rb, type, tmp.data(), n, m.cols);
  }
  owned.push_back(storage);
  return kernels::typed_matrix(type, storage.get(), m.rows, m.cols);
}

}  // namespace

InferenceWeights InferenceWeights::converted(StorageType type) const {
  InferenceWeights w = *this;
  // One conversion per distinct source matrix, so a tied head stays shared.
  std::map<const void*, TypedMatrix> done;
  auto conv = [&](const TypedMatrix& m) {
    auto it = done.find(m.data);
    if (it != done.end() && it->second.rows == m.rows) return it->second;
    const TypedMatrix r = convert_matrix(m, type, w.keep_alive);
    done[m.data] = r;
    return r;
  };
  w.embedding = conv(embedding);
  w.lm_head = conv(lm_head);
  for (InferenceLayer& l : w.layers)
    for (LinearWeight* lw : {&l.wqkv, &l.wo, &l.w_gate_up, &l.w_down}) {
      LinearWeight out;
      for (const TypedMatrix& p : lw->parts) out.parts.push_back(conv(p));
      *lw = std::move(out);
    }
  return w;
}

size_t InferenceWeights::bytes() const {
  const size_t C = static_cast<size_t>(config.dim);
  size_t b = static_cast<size_t>(embedding.rows) * embedding.row_bytes + C * 4;  // + final norm
  if (lm_head.data != embedding.data) b += static_cast<size_t>(lm_head.rows) * lm_head.row_bytes;
  for (const InferenceLayer& l : layers)
    b += l.wqkv.bytes() + l.wo.bytes() + l.w_gate_up.bytes() + l.w_down.bytes() + 2 * C * 4;
  return b;
}

std::string InferenceWeights::type_summary() const {
  std::map<std::string, int> count;
  auto add = [&](const TypedMatrix& m) { ++count[kernels::storage_type_name(m.type)]; };
  add(embedding);
  add(lm_head);
  for (const InferenceLayer& l : layers)
    for (const LinearWeight* lw : {&l.wqkv, &l.wo, &l.w_gate_up, &l.w_down})
      for (const TypedMatrix& p : lw->parts) add(p);
  if (count.size() == 1) return count.begin()->first;
  std::string s = "mixed (";
  for (const auto& [name, n] : count) s += (s.back() == '(' ? "" : ", ") + name + " x" + std::to_string(n);
  return s + ")";
}

void InferenceWeights::validate() const {
  config.validate();
  const int64_t C = config.dim, D = config.resolved_head_dim(), F = config.ffn_dim,
                V = config.vocab_size, QD = config.n_heads * D, KD = config.n_kv_heads * D;
  auto check = [](const char* name, int64_t l, int64_t rows, int64_t cols, int64_t want_rows,
                  int64_t want_cols) {
    LONGCTX_CHECK(rows == want_rows && cols == want_cols,
                  "inference weights: %s of layer %lld is (%lld, %lld), the config needs (%lld, %lld)",
                  name, static_cast<long long>(l), static_cast<long long>(rows),
                  static_cast<long long>(cols), static_cast<long long>(want_rows),
                  static_cast<long long>(want_cols));
  };
  check("embedding", -1, embedding.rows, embedding.cols, V, C);
  check("lm_head", -1, lm_head.rows, lm_head.cols, V, C);
  LONGCTX_CHECK(final_norm != nullptr, "inference weights: final norm missing");
  LONGCTX_CHECK(static_cast<int64_t>(layers.size()) == config.n_layers,
                "inference weights: %zu layers, the config has %lld", layers.size(),
                static_cast<long long>(config.n_layers));
  for (size_t i = 0; i < layers.size(); ++i) {
    const InferenceLayer& l = layers[i];
    const auto li = static_cast<int64_t>(i);
    LONGCTX_CHECK(l.attn_norm && l.ffn_norm, "inference weights: norm of layer %zu missing", i);
    check("qkv projection", li, l.wqkv.rows(), l.wqkv.cols(), QD + 2 * KD, C);
    check("o_proj", li, l.wo.rows(), l.wo.cols(), C, QD);
    check("gate/up projection", li, l.w_gate_up.rows(), l.w_gate_up.cols(), 2 * F, C);
    check("down_proj", li, l.w_down.rows(), l.w_down.cols(), C, F);
  }
}

}  // namespace longctx::model
