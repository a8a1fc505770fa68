// Decode attention over typed KV rows, compiled once per SIMD target (Highway
// foreach_target) and dispatched at run time.
#include "kernels/attention_decode.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_decode.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
constexpr int64_t kTile = 32;  // key/value rows converted at a time

// One work item: kv head g of task `task`, key rows [lo, hi).
struct Item {
  int64_t task, g, lo, hi, split;
};

float dot(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + L <= n; i += L) acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float s = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y (n) = y * c + p * x
void scale_add(float* y, float c, float p, const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const auto vc = hn::Set(df, c), vp = hn::Set(df, p);
  int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(hn::MulAdd(vp, hn::LoadU(df, x + i), hn::Mul(vc, hn::LoadU(df, y + i))), df, y + i);
  for (; i < n; ++i) y[i] = y[i] * c + p * x[i];
}

// s (n) = exp(s - m); returns the sum.
float exp_shift(float* s, int64_t n, float m) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, s + i), vm));
    hn::StoreU(e, df, s + i);
    acc = hn::Add(acc, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) sum += s[i] = std::exp(s[i] - m);
  return sum;
}

// Runs one item: Q = n_rep * T_q query vectors against rows [lo, hi) of kv head g.
// m, l (Q) and acc (Q, D) receive the unnormalised online-softmax state.
void run_item(const DecodeAttentionTask& task, const DecodeAttentionShape& s, int64_t g,
              int64_t lo, int64_t hi, float* m, float* l, float* acc, float* kt, float* vt,
              float* scores) {
  const int64_t D = s.head_dim, H = s.n_heads, rep = H / s.n_kv_heads, Q = rep * task.T_q;
  const float scale = s.scale > 0.0f ? s.scale : 1.0f / std::sqrt(static_cast<float>(D));
  const auto* kb = static_cast<const uint8_t*>(task.k.data);
  const auto* vb = static_cast<const uint8_t*>(task.v.data);
  for (int64_t qi = 0; qi < Q; ++qi) {
    m[qi] = -std::numeric_limits<float>::infinity();
    l[qi] = 0.0f;
  }
  std::fill(acc, acc + Q * D, 0.0f);
  // f32 rows are read in place (row stride ks/vs floats); other types are converted per tile.
  const bool k_f32 = task.k.type == StorageType::kF32, v_f32 = task.v.type == StorageType::kF32;
  const int64_t ks = k_f32 ? static_cast<int64_t>(task.k.row_bytes / 4) : D;
  const int64_t vs = v_f32 ? static_cast<int64_t>(task.v.row_bytes / 4) : D;
  for (int64_t t0 = lo; t0 < hi; t0 += kTile) {
    const int64_t t1 = std::min(hi, t0 + kTile), n = t1 - t0;
    const float* K = k_f32 ? reinterpret_cast<const float*>(kb + t0 * task.k.row_bytes) + g * D : kt;
    const float* Vt = v_f32 ? reinterpret_cast<const float*>(vb + t0 * task.v.row_bytes) + g * D : vt;
    if (!k_f32)
      for (int64_t t = t0; t < t1; ++t)
        store::dequantize_range(kt + (t - t0) * D, task.k.type, kb + t * task.k.row_bytes, g * D, D);
    bool values_loaded = v_f32;
    for (int64_t i = 0; i < task.T_q; ++i) {
      const int64_t pos = task.T_kv - task.T_q + i;
      const int64_t valid = std::min(n, pos + 1 - t0);  // causal: keys t0..pos of this tile
      if (valid <= 0) continue;
      if (!values_loaded) {
        for (int64_t t = t0; t < t1; ++t)
          store::dequantize_range(vt + (t - t0) * D, task.v.type, vb + t * task.v.row_bytes, g * D, D);
        values_loaded = true;
      }
      for (int64_t r = 0; r < rep; ++r) {
        const int64_t qi = i * rep + r;
        const float* qv = task.q + (i * H + g * rep + r) * D;
        float tmax = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < valid; ++t) {
          scores[t] = dot(qv, K + t * ks, D) * scale;
          tmax = std::max(tmax, scores[t]);
        }
        const float m_new = std::max(m[qi], tmax);
        const float corr = std::exp(m[qi] - m_new);  // 0 on the first tile (m = -inf)
        const float sum = exp_shift(scores, valid, m_new);
        l[qi] = l[qi] * corr + sum;
        float* a = acc + qi * D;
        for (int64_t t = 0; t < valid; ++t) scale_add(a, t == 0 ? corr : 1.0f, scores[t], Vt + t * vs, D);
        m[qi] = m_new;
      }
    }
  }
}

}  // namespace

void attention_decode_target(const DecodeAttentionTask* tasks, int64_t n_tasks,
                             const DecodeAttentionShape& s) {
  const int64_t Hkv = s.n_kv_heads, D = s.head_dim, rep = s.n_heads / s.n_kv_heads;
  const int threads = omp_get_max_threads();
  // Split long caches so that there are about two items per thread (at least 256 rows each).
  thread_local std::vector<Item> items;
  thread_local std::vector<int64_t> first_item;  // per (task, g): index of its first split
  items.clear();
  first_item.assign(static_cast<size_t>(n_tasks * Hkv + 1), 0);
  int64_t max_q = 1;
  for (int64_t ti = 0; ti < n_tasks; ++ti) {
    const DecodeAttentionTask& t = tasks[ti];
    max_q = std::max(max_q, rep * t.T_q);
    const int64_t want = std::max<int64_t>(1, (2 * threads + n_tasks * Hkv - 1) / (n_tasks * Hkv));
    const int64_t splits = std::clamp<int64_t>(want, 1, std::max<int64_t>(1, t.T_kv / 256));
    const int64_t per = (t.T_kv + splits - 1) / splits;
    for (int64_t g = 0; g < Hkv; ++g) {
      first_item[static_cast<size_t>(ti * Hkv + g)] = static_cast<int64_t>(items.size());
      for (int64_t sp = 0; sp < splits; ++sp) {
        const int64_t lo = sp * per, hi = std::min(t.T_kv, lo + per);
        if (lo < hi) items.push_back(Item{ti, g, lo, hi, sp});
      }
    }
  }
  first_item[static_cast<size_t>(n_tasks * Hkv)] = static_cast<int64_t>(items.size());
  const int64_t n_items = static_cast<int64_t>(items.size());
  // Partial state per item: m (Q), l (Q), acc (Q, D).
  const int64_t per_item = max_q * (D + 2);
  thread_local std::vector<float> partial;
  if (partial.size() < static_cast<size_t>(n_items * per_item))
    partial.resize(static_cast<size_t>(n_items * per_item));
  // Raw pointers: the thread_local vectors are this thread's, OpenMP workers see their own.
  const Item* it = items.data();
  const int64_t* first = first_item.data();
  float* part = partial.data();
  // Threads only when there is enough to read: short caches are done faster by one thread.
  int64_t work = 0;  // key/value elements read
  for (int64_t ti = 0; ti < n_tasks; ++ti) work += tasks[ti].T_kv * Hkv * D * 2;
  const bool par = n_items > 1 && work >= (1 << 17);
#pragma omp parallel if (par)
  {
    // Per-thread tiles, kept between calls (OpenMP threads persist).
    thread_local std::vector<float> kt, vt, scores;
    kt.resize(static_cast<size_t>(kTile * D));
    vt.resize(static_cast<size_t>(kTile * D));
    scores.resize(static_cast<size_t>(kTile));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_items; ++i) {
      const Item& item = it[i];
      float* p = part + i * per_item;
      run_item(tasks[item.task], s, item.g, item.lo, item.hi, p, p + max_q, p + 2 * max_q, kt.data(),
               vt.data(), scores.data());
    }
  }
  // Merge the splits of every (task, kv head) and normalise.
#pragma omp parallel for schedule(static) if (par && n_tasks * Hkv > 1)
  for (int64_t tg = 0; tg < n_tasks * Hkv; ++tg) {
    const int64_t ti = tg / Hkv, g = tg % Hkv;
    const DecodeAttentionTask& t = tasks[ti];
    const int64_t Q = rep * t.T_q, a = first[tg], b = first[tg + 1];
    for (int64_t qi = 0; qi < Q; ++qi) {
      float M = -std::numeric_limits<float>::infinity();
      for (int64_t i = a; i < b; ++i) M = std::max(M, part[i * per_item + qi]);
      const int64_t row = qi / rep, h = g * rep + qi % rep;
      float* out = t.out + (row * s.n_heads + h) * D;
      std::fill(out, out + D, 0.0f);
      float L = 0.0f;
      for (int64_t i = a; i < b; ++i) {
        const float* p = part + i * per_item;
        if (p[qi] == -std::numeric_limits<float>::infinity()) continue;
        const float w = std::exp(p[qi] - M);
        L += w * p[max_q + qi];
        scale_add(out, 1.0f, w, p + 2 * max_q + qi * D, D);
      }
      const float inv = L > 0.0f ? 1.0f / L : 0.0f;
      for (int64_t d = 0; d < D; ++d) out[d] *= inv;
    }
  }
}

}  // namespace longctx::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace longctx::kernels {

HWY_EXPORT(attention_decode_target);

void attention_decode(const DecodeAttentionTask* tasks, int64_t n_tasks,
                      const DecodeAttentionShape& s) {
  LONGCTX_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0 && s.head_dim > 0,
                "attention_decode: bad shape (H %d, Hkv %d, D %d)", s.n_heads, s.n_kv_heads, s.head_dim);
  for (int64_t i = 0; i < n_tasks; ++i) {
    const DecodeAttentionTask& t = tasks[i];
    LONGCTX_CHECK(t.T_q >= 1 && t.T_kv >= t.T_q && t.out && t.q && t.k.data && t.v.data,
                  "attention_decode: task %lld has T_q %lld, T_kv %lld (need 1 <= T_q <= T_kv)",
                  static_cast<long long>(i), static_cast<long long>(t.T_q),
                  static_cast<long long>(t.T_kv));
  }
  if (n_tasks == 0) return;
  HWY_DYNAMIC_DISPATCH(attention_decode_target)(tasks, n_tasks, s);
}

}  // namespace longctx::kernels
#endif  // HWY_ONCE
