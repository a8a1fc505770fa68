// Decode attention over typed KV rows, compiled once per SIMD target (Highway
// foreach_target) and dispatched at run time.
#include "kernels/attention_decode.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_decode.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/cache_control.h>
#include <hwy/contrib/math/math-inl.h>

#include "kernels/storage_type-inl.h"

HWY_BEFORE_NAMESPACE();
namespace longctx::kernels::HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
constexpr int64_t kTile = 32;           // key/value rows taken at a time (all kv heads)
constexpr int64_t kMinSplitRows = 256;  // a cache is split over threads in parts of at least this

// One work item: key rows [lo, hi) of task `task`, every kv head (whole rows are read, so
// each thread streams contiguous memory and reads every row once).
struct Item {
  int64_t task, lo, hi;
};

// Element access to rows read in place: f32 (also tiles converted to f32) and bf16, whose
// lanes are widened in registers (no converted copy: half the bytes read from memory).
struct F32Rows {
  static constexpr int64_t kBytes = 4;
  template <class DF>
  static HWY_INLINE hn::Vec<DF> load(DF df, const uint8_t* row, int64_t i) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + i);
  }
  static HWY_INLINE float get(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct BF16Rows {
  static constexpr int64_t kBytes = 2;
  template <class DF>
  static HWY_INLINE hn::Vec<DF> load(DF df, const uint8_t* row, int64_t i) {
    return store::load_bf16(df, row + 2 * i);
  }
  static HWY_INLINE float get(const uint8_t* row, int64_t i) {
    const uint32_t bits = static_cast<uint32_t>(row[2 * i] | (row[2 * i + 1] << 8)) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

// q (n) . k (n elements of a row)
template <class KR>
float dot(const float* q, const uint8_t* k, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    acc0 = hn::MulAdd(hn::LoadU(df, q + i), KR::load(df, k, i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, q + i + L), KR::load(df, k, i + L), acc1);
  }
  if (i + L <= n) {
    acc0 = hn::MulAdd(hn::LoadU(df, q + i), KR::load(df, k, i), acc0);
    i += L;
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) s += q[i] * KR::get(k, i);
  return s;
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

// a (D) = a * c + sum_t p[t] * v_t (D elements at v + t * stride bytes), t < n. The
// accumulator stays in registers over the n rows (up to 4 vectors at a time): no
// store-to-load chain per row.
template <class VR>
void weighted_sum(float* a, float c, const float* p, const uint8_t* v, int64_t stride, int64_t n,
                  int64_t D) {
  const hn::ScalableTag<float> df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  const auto vc = hn::Set(df, c);
  int64_t d = 0;
  for (; d + 4 * L <= D; d += 4 * L) {
    auto a0 = hn::Mul(hn::LoadU(df, a + d), vc), a1 = hn::Mul(hn::LoadU(df, a + d + L), vc);
    auto a2 = hn::Mul(hn::LoadU(df, a + d + 2 * L), vc), a3 = hn::Mul(hn::LoadU(df, a + d + 3 * L), vc);
    for (int64_t t = 0; t < n; ++t) {
      const uint8_t* vr = v + t * stride;
      const auto w = hn::Set(df, p[t]);
      a0 = hn::MulAdd(w, VR::load(df, vr, d), a0);
      a1 = hn::MulAdd(w, VR::load(df, vr, d + L), a1);
      a2 = hn::MulAdd(w, VR::load(df, vr, d + 2 * L), a2);
      a3 = hn::MulAdd(w, VR::load(df, vr, d + 3 * L), a3);
    }
    hn::StoreU(a0, df, a + d);
    hn::StoreU(a1, df, a + d + L);
    hn::StoreU(a2, df, a + d + 2 * L);
    hn::StoreU(a3, df, a + d + 3 * L);
  }
  for (; d + L <= D; d += L) {
    auto a0 = hn::Mul(hn::LoadU(df, a + d), vc);
    for (int64_t t = 0; t < n; ++t) a0 = hn::MulAdd(hn::Set(df, p[t]), VR::load(df, v + t * stride, d), a0);
    hn::StoreU(a0, df, a + d);
  }
  for (; d < D; ++d) {
    float s = a[d] * c;
    for (int64_t t = 0; t < n; ++t) s += p[t] * VR::get(v + t * stride, d);
    a[d] = s;
  }
}

// Asks for the next tile's rows while this one is computed (bytes <= 0: nothing).
void prefetch_rows(const uint8_t* p, int64_t bytes) {
  for (int64_t b = 0; b < bytes; b += 64) hwy::Prefetch(p + b);
}

// Per-thread scratch: a tile of keys and of values converted to f32 (Q8_0 caches) and the
// scores of one query vector against a tile.
struct Scratch {
  std::vector<float> kt, vt;  // (kTile, Hkv * D)
  std::vector<float> scores;  // (kTile)
};

// Runs one item: the T_q * H query vectors against rows [lo, hi). m, l (T_q * H) and
// acc (T_q * H, D) receive the unnormalised online-softmax state, indexed (row, head).
// KR/VR: how keys/values are read (f32 and bf16 in place, Q8_0 through f32 tiles).
template <class KR, class VR>
void run_item(const DecodeAttentionTask& task, const DecodeAttentionShape& s, int64_t lo,
              int64_t hi, float* m, float* l, float* acc, Scratch& w) {
  const int64_t D = s.head_dim, H = s.n_heads, Hkv = s.n_kv_heads, rep = H / Hkv, KD = Hkv * D;
  const int64_t Q = task.T_q * H;
  const float scale = s.scale > 0.0f ? s.scale : 1.0f / std::sqrt(static_cast<float>(D));
  const auto* kb = static_cast<const uint8_t*>(task.k.data);
  const auto* vb = static_cast<const uint8_t*>(task.v.data);
  std::fill(m, m + Q, -std::numeric_limits<float>::infinity());
  std::fill(l, l + Q, 0.0f);
  std::fill(acc, acc + Q * D, 0.0f);
  const bool k_tile = task.k.type == StorageType::kQ8_0, v_tile = task.v.type == StorageType::kQ8_0;
  // Byte strides between the rows read: the cache's, or the f32 tile's.
  const int64_t ks = k_tile ? KD * 4 : static_cast<int64_t>(task.k.row_bytes);
  const int64_t vs = v_tile ? KD * 4 : static_cast<int64_t>(task.v.row_bytes);
  float* scores = w.scores.data();
  for (int64_t t0 = lo; t0 < hi; t0 += kTile) {
    const int64_t n = std::min(hi, t0 + kTile) - t0;
    const uint8_t* K = k_tile ? reinterpret_cast<const uint8_t*>(w.kt.data()) : kb + t0 * task.k.row_bytes;
    const uint8_t* V = v_tile ? reinterpret_cast<const uint8_t*>(w.vt.data()) : vb + t0 * task.v.row_bytes;
    prefetch_rows(kb + (t0 + n) * task.k.row_bytes, std::min(kTile, hi - t0 - n) * task.k.row_bytes);
    prefetch_rows(vb + (t0 + n) * task.v.row_bytes, std::min(kTile, hi - t0 - n) * task.v.row_bytes);
    // Every tile is seen by the last query row (t0 < hi <= T_kv), so both are always needed.
    if (k_tile)
      for (int64_t t = 0; t < n; ++t)
        store::dequantize_row(w.kt.data() + t * KD, task.k.type, kb + (t0 + t) * task.k.row_bytes, KD);
    if (v_tile)
      for (int64_t t = 0; t < n; ++t)
        store::dequantize_row(w.vt.data() + t * KD, task.v.type, vb + (t0 + t) * task.v.row_bytes, KD);
    for (int64_t i = 0; i < task.T_q; ++i) {
      const int64_t pos = task.T_kv - task.T_q + i;
      const int64_t valid = std::min(n, pos + 1 - t0);  // causal: keys t0..pos of this tile
      if (valid <= 0) continue;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t qi = i * H + h, g = h / rep;
        const float* qv = task.q + qi * D;
        const uint8_t* Kg = K + g * D * KR::kBytes;
        float tmax = -std::numeric_limits<float>::infinity();
        for (int64_t t = 0; t < valid; ++t) {
          scores[t] = dot<KR>(qv, Kg + t * ks, D) * scale;
          tmax = std::max(tmax, scores[t]);
        }
        const float m_new = std::max(m[qi], tmax);
        const float corr = std::exp(m[qi] - m_new);  // 0 on the first tile (m = -inf)
        l[qi] = l[qi] * corr + exp_shift(scores, valid, m_new);
        weighted_sum<VR>(acc + qi * D, corr, scores, V + g * D * VR::kBytes, vs, valid, D);
        m[qi] = m_new;
      }
    }
  }
}

template <class KR>
void run_item_k(const DecodeAttentionTask& task, const DecodeAttentionShape& s, int64_t lo,
                int64_t hi, float* m, float* l, float* acc, Scratch& w) {
  if (task.v.type == StorageType::kBF16) return run_item<KR, BF16Rows>(task, s, lo, hi, m, l, acc, w);
  run_item<KR, F32Rows>(task, s, lo, hi, m, l, acc, w);
}

void run_item_typed(const DecodeAttentionTask& task, const DecodeAttentionShape& s, int64_t lo,
                    int64_t hi, float* m, float* l, float* acc, Scratch& w) {
  if (task.k.type == StorageType::kBF16) return run_item_k<BF16Rows>(task, s, lo, hi, m, l, acc, w);
  run_item_k<F32Rows>(task, s, lo, hi, m, l, acc, w);
}

}  // namespace

void attention_decode_target(const DecodeAttentionTask* tasks, int64_t n_tasks,
                             const DecodeAttentionShape& s) {
  const int64_t H = s.n_heads, D = s.head_dim, KD = s.n_kv_heads * D;
  const int threads = omp_get_max_threads();
  // Each long cache is split along its length into parts of at least kMinSplitRows rows, so
  // that there are about two items per thread (dynamic scheduling evens out a busy core).
  thread_local std::vector<Item> items;
  thread_local std::vector<int64_t> first_item;  // per task: index of its first part
  items.clear();
  first_item.assign(static_cast<size_t>(n_tasks + 1), 0);
  int64_t max_q = 1, work = 0;  // work: key/value elements read
  const int64_t want = std::max<int64_t>(1, (2 * threads + n_tasks - 1) / n_tasks);
  for (int64_t ti = 0; ti < n_tasks; ++ti) {
    const DecodeAttentionTask& t = tasks[ti];
    max_q = std::max(max_q, H * t.T_q);
    work += t.T_kv * KD * 2;
    const int64_t splits = std::clamp<int64_t>(want, 1, std::max<int64_t>(1, t.T_kv / kMinSplitRows));
    // Part boundaries on tile multiples, so the parts tile the cache as one pass would.
    const int64_t per = (t.T_kv + splits * kTile - 1) / (splits * kTile) * kTile;
    first_item[static_cast<size_t>(ti)] = static_cast<int64_t>(items.size());
    for (int64_t lo = 0; lo < t.T_kv; lo += per) items.push_back(Item{ti, lo, std::min(t.T_kv, lo + per)});
  }
  first_item[static_cast<size_t>(n_tasks)] = static_cast<int64_t>(items.size());
  const int64_t n_items = static_cast<int64_t>(items.size());
  // Partial state per item: m (max_q), l (max_q), acc (max_q, D).
  const int64_t per_item = max_q * (D + 2);
  thread_local std::vector<float> partial;
  if (partial.size() < static_cast<size_t>(n_items * per_item))
    partial.resize(static_cast<size_t>(n_items * per_item));
  // Raw pointers: the thread_local vectors are this thread's, OpenMP workers see their own.
  const Item* it = items.data();
  float* part = partial.data();
  // Threads only when there is enough to read: short caches are done faster by one thread.
  const bool par = n_items > 1 && work >= (1 << 17);
#pragma omp parallel if (par)
  {
    // Per-thread tiles, kept between calls (OpenMP threads persist).
    thread_local Scratch w;
    w.kt.resize(static_cast<size_t>(kTile * KD));
    w.vt.resize(static_cast<size_t>(kTile * KD));
    w.scores.resize(static_cast<size_t>(kTile));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_items; ++i) {
      const Item& item = it[i];
      float* p = part + i * per_item;
      run_item_typed(tasks[item.task], s, item.lo, item.hi, p, p + max_q, p + 2 * max_q, w);
    }
  }
  // Merge the parts of every task and normalise (H * T_q * D per part: cheap, one thread).
  for (int64_t ti = 0; ti < n_tasks; ++ti) {
    const DecodeAttentionTask& t = tasks[ti];
    const int64_t a = first_item[static_cast<size_t>(ti)], b = first_item[static_cast<size_t>(ti) + 1];
    for (int64_t qi = 0; qi < H * t.T_q; ++qi) {
      float M = -std::numeric_limits<float>::infinity();
      for (int64_t i = a; i < b; ++i) M = std::max(M, part[i * per_item + qi]);
      float* out = t.out + qi * D;  // out and the state are both indexed (row, head)
      std::fill(out, out + D, 0.0f);
      float L = 0.0f;
      for (int64_t i = a; i < b; ++i) {
        const float* p = part + i * per_item;
        if (p[qi] == -std::numeric_limits<float>::infinity()) continue;
        const float wgt = std::exp(p[qi] - M);
        L += wgt * p[max_q + qi];
        weighted_sum<F32Rows>(out, 1.0f, &wgt, reinterpret_cast<const uint8_t*>(p + 2 * max_q + qi * D), 0, 1, D);
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
