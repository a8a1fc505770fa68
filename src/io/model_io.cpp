#include "io/model_io.h"

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/error.h"
#include "io/float_formats.h"
#include "io/gguf.h"
#include "io/gguf_vocab.h"
#include "io/hf_config.h"
#include "io/model_check.h"
#include "io/safetensors.h"
#include "rope/rope_gguf.h"

namespace longctx::io {

namespace fs = std::filesystem;
using model::LlamaModel;
using model::ModelConfig;
using model::ParameterSet;

namespace {

// (HF suffix after "model.layers.N.", GGUF suffix after "blk.N.")
const std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};
const std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

int64_t rotary_dim(const ModelConfig& c) {
  const int64_t d = c.resolved_head_dim();
  const auto r = static_cast<int64_t>(std::llround(static_cast<double>(d) * c.rope.partial_rotary));
  return r - r % 2;
}

// Which heads a projection has: q uses n_heads, k uses n_kv_heads; others none.
int64_t rope_heads_of(const std::string& hf_name, const ModelConfig& c) {
  if (hf_name.find("self_attn.q_proj.weight") != std::string::npos) return c.n_heads;
  if (hf_name.find("self_attn.k_proj.weight") != std::string::npos) return c.n_kv_heads;
  return 0;
}

std::vector<int64_t> shape_vec(const Shape& s) {
  return std::vector<int64_t>(s.dims.begin(), s.dims.begin() + s.ndim);
}

std::vector<int64_t> gguf_ne(const Shape& s) {
  std::vector<int64_t> ne = shape_vec(s);
  std::reverse(ne.begin(), ne.end());
  return ne;
}

rope::GgufKv to_rope_kv(const GgufFile& g) {
  rope::GgufKv kv;
  for (const auto& [k, v] : g.metadata()) {
    if (v.is_array) continue;
    if (v.type == GgufType::kString) kv[k] = v.strings[0];
    else if (v.type == GgufType::kBool) kv[k] = v.ints[0] != 0;
    else if (!v.floats.empty()) kv[k] = v.floats[0];
    else kv[k] = v.ints[0];
  }
  return kv;
}

GgufValue from_rope_scalar(const rope::GgufScalar& s) {
  if (auto* i = std::get_if<int64_t>(&s))
    return *i >= 0 && *i <= UINT32_MAX ? GgufValue::scalar_int(GgufType::kU32, *i)
                                       : GgufValue::scalar_int(GgufType::kI64, *i);
  if (auto* d = std::get_if<double>(&s)) return GgufValue::scalar_float(GgufType::kF32, *d);
  if (auto* b = std::get_if<bool>(&s)) return GgufValue::scalar_int(GgufType::kBool, *b ? 1 : 0);
  return GgufValue::string(std::get<std::string>(s));
}

std::vector<float> gguf_tensor_f32(const GgufFile& g, const GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  g.tensor_to_f32(t, v.data());
  return v;
}

// Row r of each head's interleaved layout is row (r % 2) * rot_dim/2 + r/2 of the half-split
// layout (rows past rot_dim stay put). Copies whole rows of `cols` floats, either way.
void permute_rope_rows(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                       int64_t rot_dim, int64_t cols, bool to_half_split) {
  const int64_t half = rot_dim / 2;
  const size_t row_bytes = static_cast<size_t>(cols) * sizeof(float);
  for (int64_t h = 0; h < n_heads; ++h) {
    const float* src = in + h * head_dim * cols;
    float* dst = out + h * head_dim * cols;
    for (int64_t r = 0; r < head_dim; ++r) {
      const int64_t split = r < rot_dim ? (r % 2) * half + r / 2 : r;
      if (to_half_split) std::memcpy(dst + split * cols, src + r * cols, row_bytes);
      else std::memcpy(dst + r * cols, src + split * cols, row_bytes);
    }
  }
}

// The optional RoPE tensors of a GGUF (llama.cpp names), paired with their GgufRope fields.
constexpr const char* kRopeTensorNames[] = {"rope_freqs.weight", "rope_factors_short.weight",
                                            "rope_factors_long.weight"};
std::array<std::pair<const char*, std::vector<float>*>, 3> rope_tensors(rope::GgufRope& gr) {
  return {{{kRopeTensorNames[0], &gr.rope_freqs},
           {kRopeTensorNames[1], &gr.rope_factors_short},
           {kRopeTensorNames[2], &gr.rope_factors_long}}};
}

// `what` names the save in the error, e.g. "saving GGUF 'x.gguf'".
void check_save_dtype(DType dtype, const std::string& what) {
  LONGCTX_CHECK(dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16,
                "%s: dtype %s (f32, f16 or bf16)", what.c_str(), dtype_name(dtype));
}

// n floats of src converted to f16 or bf16 (dtype) in a new buffer appended to `keep`,
// which owns it until the file is written.
const uint16_t* narrowed_copy(DType dtype, const float* src, size_t n,
                              std::vector<std::vector<uint16_t>>& keep) {
  auto& buf = keep.emplace_back(n);
  if (dtype == DType::kF16) f32_array_to_f16(buf.data(), src, n);
  else f32_array_to_bf16(buf.data(), src, n);
  return buf.data();
}

}  // namespace

std::string gguf_name_from_hf(const std::string& hf) {
  for (const auto& [h, g] : kGlobalNames)
    if (hf == h) return g;
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(hf, m, layer))
    for (const auto& [h, g] : kLayerNames)
      if (m[2] == h) return "blk." + m[1].str() + "." + g;
  throw_error("tensor '%s' is not part of a LLaMA model", hf.c_str());
}

std::string hf_name_from_gguf(const std::string& gg) {
  for (const auto& [h, g] : kGlobalNames)
    if (gg == g) return h;
  static const std::regex layer(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (std::regex_match(gg, m, layer))
    for (const auto& [h, g] : kLayerNames)
      if (m[2] == g) return "model.layers." + m[1].str() + "." + h;
  throw_error("GGUF tensor '%s' is not part of a LLaMA model", gg.c_str());
}

void interleaved_to_half_split(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                               int64_t rot_dim, int64_t cols) {
  permute_rope_rows(out, in, n_heads, head_dim, rot_dim, cols, /*to_half_split=*/true);
}

void half_split_to_interleaved(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                               int64_t rot_dim, int64_t cols) {
  permute_rope_rows(out, in, n_heads, head_dim, rot_dim, cols, /*to_half_split=*/false);
}

ModelFormat detect_model_format(const std::string& path) {
  if (fs::is_directory(path)) return ModelFormat::kHfFolder;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error("model '%s': no such file or folder", path.c_str());
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) return ModelFormat::kGguf;
  throw_error("model '%s': neither a GGUF file nor a Hugging Face folder", path.c_str());
}

LoadedModel load_model(const std::string& path) {
  return detect_model_format(path) == ModelFormat::kGguf ? load_gguf_model(path)
                                                          : load_hf_model(path);
}

ModelConfig model_config_from_gguf(const GgufFile& g) {
  const std::string& path = g.origin();
  const std::string arch = g.find("general.architecture") ? g.get_string("general.architecture")
                                                           : std::string("");
  if (arch != "llama")
    throw_error("GGUF '%s': general.architecture is '%s'; only 'llama' models are supported",
                path.c_str(), arch.c_str());
  ModelConfig c;
  c.dim = g.get_int("llama.embedding_length");
  c.n_layers = g.get_int("llama.block_count");
  c.n_heads = g.get_int("llama.attention.head_count");
  c.n_kv_heads = g.get_int_or("llama.attention.head_count_kv", c.n_heads);
  c.ffn_dim = g.get_int("llama.feed_forward_length");
  c.max_seq_len = g.get_int_or("llama.context_length", 2048);
  c.norm_eps = static_cast<float>(g.get_float("llama.attention.layer_norm_rms_epsilon"));
  const int64_t key_length = g.get_int_or("llama.attention.key_length", 0);
  if (key_length > 0 && c.n_heads > 0 && key_length * c.n_heads != c.dim) c.head_dim = key_length;
  const GgufTensorInfo* emb = g.find_tensor("token_embd.weight");
  if (!emb || emb->ne.size() != 2)
    throw_error("GGUF '%s': missing 2-D tensor token_embd.weight", path.c_str());
  c.vocab_size = g.get_int_or("llama.vocab_size", emb->ne[1]);
  c.tied_embeddings = g.find_tensor("output.weight") == nullptr;

  rope::GgufRope gr;
  gr.kv = to_rope_kv(g);
  for (auto [tname, dest] : rope_tensors(gr))
    if (const GgufTensorInfo* t = g.find_tensor(tname)) *dest = gguf_tensor_f32(g, *t);
  try {
    const int64_t hd = c.head_dim > 0 ? c.head_dim : (c.n_heads > 0 ? c.dim / c.n_heads : 0);
    LONGCTX_CHECK(hd > 0 && hd <= 1 << 16, "head dimension %lld", static_cast<long long>(hd));
    c.rope = rope::rope_from_gguf(gr, static_cast<int>(hd));
    c.validate();
  } catch (const Error& e) {
    throw e.with_context("GGUF '" + path + "'");
  }
  return c;
}

LoadedModel load_gguf_model(const std::string& path) {
  const GgufFile g = GgufFile::open(path);
  const ModelConfig c = model_config_from_gguf(g);
  std::set<std::string> consumed(std::begin(kRopeTensorNames), std::end(kRopeTensorNames));
  for (const auto& [hf, shape] : expected_tensors(c)) {
    const std::string gname = gguf_name_from_hf(hf);
    const GgufTensorInfo* t = g.find_tensor(gname);
    if (!t) throw_error("GGUF '%s': missing tensor '%s'", path.c_str(), gname.c_str());
    const std::vector<int64_t> ne(shape.rbegin(), shape.rend());
    if (t->ne != ne)
      throw_error("GGUF '%s': tensor '%s' has ne %s where the metadata implies %s", path.c_str(),
                  gname.c_str(), shape_text(t->ne).c_str(), shape_text(ne).c_str());
    consumed.insert(gname);
  }
  for (const auto& t : g.tensors())
    if (!consumed.count(t.name))
      throw_error("GGUF '%s': unexpected tensor '%s' for a LLaMA model", path.c_str(),
                  t.name.c_str());
  LoadedModel out{LlamaModel(c), std::nullopt, path};
  ParameterSet& p = out.model.params;
  for (const model::ParamEntry& e : p.entries()) {  // GGUF q/k rows are interleaved, like ours
    const GgufTensorInfo* t = g.find_tensor(gguf_name_from_hf(e.name));
    LONGCTX_CHECK(t && t->ne == gguf_ne(e.shape), "GGUF '%s': tensor for '%s' missing or misshapen",
                  path.c_str(), e.name.c_str());
    g.tensor_to_f32(*t, p.data() + e.offset);
  }
  if (g.find("tokenizer.ggml.tokens")) out.tokenizer = tokenizer_from_gguf(g);
  check_model(out.model, out.tokenizer ? &*out.tokenizer : nullptr, "model '" + path + "'");
  return out;
}

LoadedModel load_hf_model(const std::string& folder) {
  const std::string cfg_path = (fs::path(folder) / "config.json").string();
  if (!fs::exists(cfg_path))
    throw_error("Hugging Face folder '%s' has no config.json", folder.c_str());
  const ModelConfig c = read_hf_config(cfg_path);
  const SafetensorsSet st = SafetensorsSet::open(folder);
  std::set<std::string> expected;
  for (const auto& [name, shape] : expected_tensors(c)) {
    const SafetensorsEntry* t = st.find(name);
    if (!t) throw_error("Hugging Face folder '%s': missing tensor '%s'", folder.c_str(), name.c_str());
    if (t->shape != shape)
      throw_error("Hugging Face folder '%s': tensor '%s' has shape %s where the config implies %s",
                  folder.c_str(), name.c_str(), shape_text(t->shape).c_str(), shape_text(shape).c_str());
    expected.insert(name);
  }
  for (const std::string& n : st.names())
    if (!expected.count(n) && !(c.tied_embeddings && n == "lm_head.weight") &&
        n.find("rotary_emb.inv_freq") == std::string::npos)
      throw_error("Hugging Face folder '%s': unexpected tensor '%s' for this config",
                  folder.c_str(), n.c_str());
  LoadedModel out{LlamaModel(c), std::nullopt, folder};
  ParameterSet& p = out.model.params;
  const int64_t rot = rotary_dim(c), hd = c.resolved_head_dim();
  std::vector<float> scratch;
  for (const model::ParamEntry& e : p.entries()) {
    float* dst = p.data() + e.offset;
    const int64_t heads = rope_heads_of(e.name, c);
    if (heads == 0) {
      st.read_f32(e.name, shape_vec(e.shape), dst);
      continue;
    }
    scratch.resize(static_cast<size_t>(e.shape.numel()));
    st.read_f32(e.name, shape_vec(e.shape), scratch.data());
    half_split_to_interleaved(dst, scratch.data(), heads, hd, rot, e.shape[1]);
  }
  const fs::path tok = fs::path(folder) / "tokenizer.model";
  if (fs::exists(tok)) out.tokenizer = Tokenizer::from_file(tok.string());
  check_model(out.model, out.tokenizer ? &*out.tokenizer : nullptr, "model '" + folder + "'");
  return out;
}

void save_gguf_model(const LlamaModel& m, const Tokenizer* tok, const std::string& path,
                     DType dtype) {
  const std::string what = "saving GGUF '" + path + "'";
  check_save_dtype(dtype, what);
  check_model(m, tok, what);
  const ModelConfig& c = m.config;
  GgufMetadata md;
  auto u32 = [&](const std::string& k, int64_t v) {
    md.emplace_back(k, GgufValue::scalar_int(GgufType::kU32, v));
  };
  md.emplace_back("general.architecture", GgufValue::string("llama"));
  md.emplace_back("general.name", GgufValue::string(fs::path(path).stem().string()));
  // llama.cpp's LLAMA_FTYPE: 0 all f32, 1 mostly f16, 32 mostly bf16.
  u32("general.file_type", dtype == DType::kF32 ? 0 : dtype == DType::kF16 ? 1 : 32);
  u32("llama.embedding_length", c.dim);
  u32("llama.block_count", c.n_layers);
  u32("llama.feed_forward_length", c.ffn_dim);
  u32("llama.attention.head_count", c.n_heads);
  u32("llama.attention.head_count_kv", c.n_kv_heads);
  u32("llama.attention.key_length", c.resolved_head_dim());
  u32("llama.attention.value_length", c.resolved_head_dim());
  u32("llama.vocab_size", c.vocab_size);
  md.emplace_back("llama.attention.layer_norm_rms_epsilon",
                  GgufValue::scalar_float(GgufType::kF32, c.norm_eps));
  rope::GgufRope gr;
  try {
    gr = rope::rope_to_gguf(c.rope, static_cast<int>(c.resolved_head_dim()), c.max_seq_len);
  } catch (const Error& e) {
    throw e.with_context(what);
  }
  if (!gr.kv.count("llama.context_length")) u32("llama.context_length", c.max_seq_len);
  for (const auto& [k, v] : gr.kv) md.emplace_back(k, from_rope_scalar(v));
  if (tok) append_vocab_metadata(*tok, md);

  std::vector<GgufWriteTensor> tensors;
  std::vector<std::vector<uint16_t>> narrow;  // keeps converted data alive
  narrow.reserve(m.params.entries().size());
  m.params.for_each([&](const model::ParamEntry& e, const float* ptr) {
    GgufWriteTensor t{gguf_name_from_hf(e.name), gguf_ne(e.shape), GgmlType::kF32, ptr};
    if (dtype != DType::kF32 && e.shape.ndim >= 2) {
      t.type = dtype == DType::kF16 ? GgmlType::kF16 : GgmlType::kBF16;
      t.data = narrowed_copy(dtype, ptr, static_cast<size_t>(e.shape.numel()), narrow);
    }
    tensors.push_back(std::move(t));
  });
  for (auto [name, vec] : rope_tensors(gr))
    if (!vec->empty())
      tensors.push_back({name, {static_cast<int64_t>(vec->size())}, GgmlType::kF32, vec->data()});
  write_gguf(path, md, tensors);
}

void save_hf_model(const LlamaModel& m, const Tokenizer* tok, const std::string& folder,
                   DType dtype) {
  // Everything that can refuse runs before the folder is created: a refused save writes nothing.
  const std::string what = "saving '" + folder + "'";
  check_save_dtype(dtype, what);
  check_model(m, tok, what);
  const ModelConfig& c = m.config;
  HfConfigExtras x;
  x.torch_dtype = dtype;
  x.bos_token_id = tok ? tok->bos_id() : 1;
  x.eos_token_id = tok ? tok->eos_id() : 2;
  std::string cfg_text;
  try {
    cfg_text = model_config_to_hf(c, x).dump(2) + "\n";
  } catch (const Error& e) {
    throw e.with_context(what);
  }

  const int64_t rot = rotary_dim(c), hd = c.resolved_head_dim();
  std::vector<SafetensorsWriteTensor> tensors;
  std::vector<std::vector<float>> permuted;
  std::vector<std::vector<uint16_t>> narrow;
  permuted.reserve(2 * static_cast<size_t>(c.n_layers));
  narrow.reserve(m.params.entries().size());
  m.params.for_each([&](const model::ParamEntry& e, const float* ptr) {
    const int64_t heads = rope_heads_of(e.name, c);
    if (heads > 0) {
      auto& buf = permuted.emplace_back(static_cast<size_t>(e.shape.numel()));
      interleaved_to_half_split(buf.data(), ptr, heads, hd, rot, e.shape[1]);
      ptr = buf.data();
    }
    SafetensorsWriteTensor t{e.name, DType::kF32, shape_vec(e.shape), ptr};
    if (dtype != DType::kF32) {
      t.dtype = dtype;
      t.data = narrowed_copy(dtype, ptr, static_cast<size_t>(e.shape.numel()), narrow);
    }
    tensors.push_back(std::move(t));
  });

  std::string tok_config_text;
  if (tok) {
    nlohmann::json tc = {{"tokenizer_class", "LlamaTokenizer"},
                         {"add_bos_token", true},
                         {"add_eos_token", false},
                         {"legacy", true},
                         {"model_max_length", c.max_seq_len}};
    if (tok->bos_id() >= 0) tc["bos_token"] = tok->piece(tok->bos_id());
    if (tok->eos_id() >= 0) tc["eos_token"] = tok->piece(tok->eos_id());
    if (tok->unk_id() >= 0) tc["unk_token"] = tok->piece(tok->unk_id());
    tok_config_text = tc.dump(2) + "\n";
  }

  fs::create_directories(folder);
  write_safetensors((fs::path(folder) / "model.safetensors").string(), tensors);
  // A stale index from an earlier sharded save would shadow the new file.
  fs::remove(fs::path(folder) / "model.safetensors.index.json");
  write_file_atomic((fs::path(folder) / "config.json").string(), cfg_text.data(), cfg_text.size());
  if (tok) {
    const std::string proto = tok->serialized_proto();
    write_file_atomic((fs::path(folder) / "tokenizer.model").string(), proto.data(), proto.size());
    write_file_atomic((fs::path(folder) / "tokenizer_config.json").string(),
                      tok_config_text.data(), tok_config_text.size());
  }
}

}  // namespace longctx::io
