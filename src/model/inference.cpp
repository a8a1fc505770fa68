#include "model/inference.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/attention_decode.h"
#include "kernels/gemm.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"
#include "model/rope_policy.h"

namespace longctx::model {

namespace {

using kernels::StorageType;

struct Dims {
  int64_t C, D, H, Hkv, F, QD, KD, QKV, V;
  explicit Dims(const ModelConfig& c)
      : C(c.dim),
        D(c.resolved_head_dim()),
        H(c.n_heads),
        Hkv(c.n_kv_heads),
        F(c.ffn_dim),
        QD(H * D),
        KD(Hkv * D),
        QKV(QD + 2 * KD),
        V(c.vocab_size) {}
};

// One sequence's part of a round: rows [row0, row0 + m) of the workspace buffers, written
// at cache rows [pos, pos + m).
struct RoundSeq {
  SequenceStep* step;
  const kernels::RopeFreqs* freqs;
  int64_t row0, m, pos, done;  // done: tokens of the step already processed before this round
};

void check_steps(const InferenceWeights& w, std::span<SequenceStep> steps) {
  const ModelConfig& cfg = w.config;
  std::set<const KVCache*> seen;
  for (size_t i = 0; i < steps.size(); ++i) {
    const SequenceStep& s = steps[i];
    LONGCTX_CHECK(s.cache != nullptr && !s.tokens.empty(),
                  "forward: step %zu needs a cache and at least one token", i);
    const ModelConfig& cc = s.cache->config();
    LONGCTX_CHECK(s.cache->capacity() > 0 && cc.n_layers == cfg.n_layers &&
                      cc.n_kv_heads == cfg.n_kv_heads &&
                      cc.resolved_head_dim() == cfg.resolved_head_dim(),
                  "forward: the KV cache of step %zu was made for a different model", i);
    LONGCTX_CHECK(seen.insert(s.cache).second, "forward: steps %zu and an earlier one share a KV cache", i);
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    LONGCTX_CHECK(s.cache->position() + n <= s.cache->capacity(),
                  "forward: %lld tokens at position %lld exceed the KV cache capacity %lld",
                  static_cast<long long>(n), static_cast<long long>(s.cache->position()),
                  static_cast<long long>(s.cache->capacity()));
    for (int64_t t = 0; t < n; ++t)
      LONGCTX_CHECK(s.tokens[t] >= 0 && s.tokens[t] < cfg.vocab_size,
                    "forward: token %d at index %lld outside [0, %lld)", s.tokens[t],
                    static_cast<long long>(t), static_cast<long long>(cfg.vocab_size));
  }
}

const kernels::RopeCache& table_for(InferenceWorkspace& ws, const RoundSeq& s, const Dims& d) {
  const bool xpos = !s.freqs->xpos_zeta.empty();
  // xPos scales are centred on the table, so keys and queries of a cache must always use a
  // table spanning exactly its capacity.
  return xpos ? ws.rope_table(*s.freqs, static_cast<int>(d.D), 0, s.step->cache->capacity(), true)
              : ws.rope_table(*s.freqs, static_cast<int>(d.D), s.pos, s.m, false);
}

// Splits qkv rows, applies RoPE, stores the new keys/values of layer l in each cache.
void store_new_rows(InferenceWorkspace& ws, std::vector<RoundSeq>& round,
                    const std::vector<const kernels::RopeCache*>& tables, int64_t l, const Dims& d,
                    int64_t R) {
  for (int64_t r = 0; r < R; ++r) {
    const float* src = ws.qkv + r * d.QKV;
    std::memcpy(ws.q + r * d.QD, src, static_cast<size_t>(d.QD) * sizeof(float));
    std::memcpy(ws.k_new + r * d.KD, src + d.QD, static_cast<size_t>(d.KD) * sizeof(float));
    std::memcpy(ws.v_new + r * d.KD, src + d.QD + d.KD, static_cast<size_t>(d.KD) * sizeof(float));
  }
  for (size_t i = 0; i < round.size(); ++i) {
    RoundSeq& s = round[i];
    const kernels::RopeCache& table = *tables[i];
    float* q = ws.q + s.row0 * d.QD;
    float* k = ws.k_new + s.row0 * d.KD;
    kernels::rope_forward(q, q, table, nullptr, s.pos, 1, s.m, static_cast<int>(d.H), kernels::RopeRole::kQuery);
    kernels::rope_forward(k, k, table, nullptr, s.pos, 1, s.m, static_cast<int>(d.Hkv), kernels::RopeRole::kKey);
    KVCache& c = *s.step->cache;
    kernels::quantize_rows(c.k_rows(l) + static_cast<size_t>(s.pos) * c.k_row_bytes(), c.types().k, k, s.m, d.KD);
    kernels::quantize_rows(c.v_rows(l) + static_cast<size_t>(s.pos) * c.v_row_bytes(), c.types().v,
                           ws.v_new + s.row0 * d.KD, s.m, d.KD);
  }
}

// att (R, QD) for every sequence of the round against its cache rows [0, pos + m).
void attend(InferenceWorkspace& ws, std::vector<RoundSeq>& round, int64_t l, const Dims& d) {
  std::vector<kernels::DecodeAttentionTask> tasks;
  for (RoundSeq& s : round) {
    KVCache& c = *s.step->cache;
    const int64_t T_kv = s.pos + s.m;
    float* out = ws.att + s.row0 * d.QD;
    const float* q = ws.q + s.row0 * d.QD;
    if (s.m <= kDecodeAttentionRows) {
      kernels::DecodeAttentionTask t;
      t.out = out;
      t.q = q;
      t.k = {c.types().k, c.k_rows(l), c.k_row_bytes()};
      t.v = {c.types().v, c.v_rows(l), c.v_row_bytes()};
      t.T_q = s.m;
      t.T_kv = T_kv;
      tasks.push_back(t);
      continue;
    }
    kernels::AttentionShape shape;
    shape.B = 1;
    shape.T_q = s.m;
    shape.T_kv = T_kv;
    shape.n_heads = static_cast<int>(d.H);
    shape.n_kv_heads = static_cast<int>(d.Hkv);
    shape.head_dim = static_cast<int>(d.D);
    // Prefill-sized: the tile products follow LONGCTX_MATMUL_PRECISION as typed_matmul's do.
    shape.bf16_products = kernels::matmul_precision() == kernels::MatmulPrecision::kBf16;
    if (c.types().k == StorageType::kF32 && c.types().v == StorageType::kF32) {
      kernels::attention_forward(out, nullptr, q, reinterpret_cast<const float*>(c.k_rows(l)),
                                 reinterpret_cast<const float*>(c.v_rows(l)), shape);
    } else {
      // Prefill over a 16- or 8-bit cache: rows converted while the kernel packs its tiles.
      kernels::attention_forward_cached(out, q, {c.types().k, c.k_rows(l), c.k_row_bytes()},
                                        {c.types().v, c.v_rows(l), c.v_row_bytes()}, shape);
    }
  }
  if (!tasks.empty()) {
    kernels::DecodeAttentionShape shape{static_cast<int>(d.H), static_cast<int>(d.Hkv), static_cast<int>(d.D), 0.0f};
    kernels::attention_decode(tasks.data(), static_cast<int64_t>(tasks.size()), shape);
  }
}

void run_round(const InferenceWeights& w, std::vector<RoundSeq>& round, InferenceWorkspace& ws) {
  const ModelConfig& cfg = w.config;
  const Dims d(cfg);
  int64_t R = 0;
  for (const RoundSeq& s : round) R = std::max(R, s.row0 + s.m);
  for (const RoundSeq& s : round)
    for (int64_t t = 0; t < s.m; ++t)
      kernels::typed_row(ws.x + (s.row0 + t) * d.C, w.embedding, s.step->tokens[s.done + t]);
  // Each sequence's RoPE table, looked up once for all layers.
  ws.begin_round();
  std::vector<const kernels::RopeCache*> tables;
  for (const RoundSeq& s : round) tables.push_back(&table_for(ws, s, d));
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    const InferenceLayer& L = w.layers[l];
    kernels::rmsnorm_forward(ws.xn, ws.rstd, ws.x, L.attn_norm, R, d.C, cfg.norm_eps);
    linear_forward(ws.qkv, d.QKV, ws.xn, R, L.wqkv);
    store_new_rows(ws, round, tables, l, d, R);
    attend(ws, round, l, d);
    linear_forward(ws.x, d.C, ws.att, R, L.wo, /*accumulate=*/true);
    kernels::rmsnorm_forward(ws.xn, ws.rstd, ws.x, L.ffn_norm, R, d.C, cfg.norm_eps);
    linear_forward(ws.gu, 2 * d.F, ws.xn, R, L.w_gate_up);
    kernels::swiglu_forward(ws.h, ws.gu, R, d.F);
    linear_forward(ws.x, d.C, ws.h, R, L.w_down, /*accumulate=*/true);
  }
  for (RoundSeq& s : round) {
    s.step->cache->advance(s.m);
    SequenceStep& st = *s.step;
    if (st.logits == nullptr) continue;
    const bool last_round = s.done + s.m == static_cast<int64_t>(st.tokens.size());
    int64_t first = s.row0, rows = s.m;
    float* out = st.logits + s.done * d.V;
    if (!st.all_logits) {
      if (!last_round) continue;
      first = s.row0 + s.m - 1;
      rows = 1;
      out = st.logits;
    }
    kernels::rmsnorm_forward(ws.xn + first * d.C, ws.rstd, ws.x + first * d.C, w.final_norm, rows,
                             d.C, cfg.norm_eps);
    kernels::typed_matmul(out, d.V, ws.xn + first * d.C, rows, w.lm_head);
  }
}

}  // namespace

void forward_batch(const InferenceWeights& w, std::span<SequenceStep> steps, InferenceWorkspace& ws) {
  check_steps(w, steps);
  LONGCTX_CHECK(ws.max_rows() > 0, "forward: the workspace is not prepared");
  // Frequencies per step (fixed for the whole step, see rope_policy.h); cached keys follow.
  std::vector<kernels::RopeFreqs> freqs;
  freqs.reserve(steps.size());
  for (SequenceStep& s : steps) {
    const int64_t end = s.cache->position() + static_cast<int64_t>(s.tokens.size());
    freqs.push_back(rope_freqs_for_length(w.config, s.rope_length > 0 ? s.rope_length : end));
    rerotate_keys(*s.cache, freqs.back());
  }
  std::vector<int64_t> done(steps.size(), 0);
  std::vector<RoundSeq> round;
  for (;;) {
    round.clear();
    int64_t rows = 0;
    for (size_t i = 0; i < steps.size() && rows < ws.max_rows(); ++i) {
      const int64_t left = static_cast<int64_t>(steps[i].tokens.size()) - done[i];
      if (left == 0) continue;
      const int64_t m = std::min(left, ws.max_rows() - rows);
      round.push_back(RoundSeq{&steps[i], &freqs[i], rows, m, steps[i].cache->position(), done[i]});
      rows += m;
      done[i] += m;
    }
    if (round.empty()) break;
    run_round(w, round, ws);
  }
}

void forward_tokens(const InferenceWeights& w, KVCache& cache, InferenceWorkspace& ws,
                    const int32_t* tokens, int64_t n, float* logits) {
  LONGCTX_CHECK(n > 0 && tokens != nullptr, "forward_tokens: need at least one token, got %lld",
                static_cast<long long>(n));
  SequenceStep step;
  step.cache = &cache;
  step.tokens = std::span<const int32_t>(tokens, static_cast<size_t>(n));
  step.logits = logits;
  forward_batch(w, std::span<SequenceStep>(&step, 1), ws);
}

void forward_tokens(const LlamaModel& model, KVCache& cache, const int32_t* tokens, int64_t n,
                    float* logits) {
  InferenceWorkspace ws(model.config, std::min(std::max<int64_t>(n, 1), kPrefillChunk));
  forward_tokens(InferenceWeights::view(model), cache, ws, tokens, n, logits);
}

}  // namespace longctx::model
