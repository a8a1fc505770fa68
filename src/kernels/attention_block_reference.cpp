// Naive double-precision block attention: for each (head, query row) the scaled scores
// against the block's visible keys are materialised and used directly. Clarity over speed.
#include "kernels/attention_block_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_geometry.h"

namespace longctx::kernels::ref {
namespace {

using attention_detail::AttentionGeometry;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool visible(const int32_t* q_seg, const int32_t* k_seg, int64_t i, int64_t j) {
  return q_seg == nullptr || q_seg[i] == k_seg[j];
}

// Scaled score of query row (i, h) against key j (kv head h / G).
double score(const AttentionGeometry& g, const double* q, const double* k, int64_t i, int64_t h,
             int64_t j) {
  const double* qr = q + i * g.q_row + h * g.D;
  const double* kr = k + j * g.kv_row + (h / g.G) * g.D;
  double s = 0.0;
  for (int64_t x = 0; x < g.D; ++x) s += qr[x] * kr[x];
  return s * g.scale;
}

}  // namespace

void attention_block_forward(double* out, double* lse, const double* q, const double* k,
                             const double* v, const AttentionBlockShape& shape,
                             const int32_t* q_segments, const int32_t* k_segments) {
  const AttentionGeometry g = attention_detail::make_block_geometry(shape, q_segments, k_segments,
                                                                    "ref::attention_block_forward");
  std::vector<double> p(static_cast<size_t>(g.T_kv)), part(static_cast<size_t>(g.D));
  for (int64_t h = 0; h < g.H; ++h)
    for (int64_t i = 0; i < g.T_q; ++i) {
      double m = kNegInf;
      for (int64_t j = 0; j < g.T_kv; ++j) {
        p[j] = visible(q_segments, k_segments, i, j) ? score(g, q, k, i, h, j) : kNegInf;
        m = std::max(m, p[j]);
      }
      double part_lse = kNegInf;
      std::fill(part.begin(), part.end(), 0.0);
      if (m != kNegInf) {
        double sum = 0.0;
        for (int64_t j = 0; j < g.T_kv; ++j) sum += p[j] = std::exp(p[j] - m);
        for (int64_t j = 0; j < g.T_kv; ++j)
          for (int64_t x = 0; x < g.D; ++x)
            part[x] += p[j] / sum * v[j * g.kv_row + (h / g.G) * g.D + x];
        part_lse = m + std::log(sum);
      }
      double* dst = out + i * g.q_row + h * g.D;
      double& row_lse = lse[h * g.lse_stride + i];
      if (shape.merge && part_lse == kNegInf) continue;
      if (!shape.merge || row_lse == kNegInf) {
        std::copy(part.begin(), part.end(), dst);
        row_lse = part_lse;
        continue;
      }
      const double both = std::max(row_lse, part_lse);
      const double w_old = std::exp(row_lse - both), w_new = std::exp(part_lse - both);
      for (int64_t x = 0; x < g.D; ++x)
        dst[x] = (w_old * dst[x] + w_new * part[x]) / (w_old + w_new);
      row_lse = both + std::log(w_old + w_new);
    }
}

void attention_block_backward(double* dq, double* dk, double* dv, const double* dout,
                              const double* out, const double* lse, const double* q,
                              const double* k, const double* v, const AttentionBlockShape& shape,
                              const int32_t* q_segments, const int32_t* k_segments) {
  const AttentionGeometry g = attention_detail::make_block_geometry(
      shape, q_segments, k_segments, "ref::attention_block_backward");
  for (int64_t h = 0; h < g.H; ++h) {
    const int64_t h_kv = h / g.G;
    for (int64_t i = 0; i < g.T_q; ++i) {
      const double row_lse = lse[h * g.lse_stride + i];
      if (row_lse == kNegInf) continue;
      const double* dor = dout + i * g.q_row + h * g.D;
      const double* outr = out + i * g.q_row + h * g.D;
      double dot = 0.0;  // D_i = dout . out of the final output
      for (int64_t x = 0; x < g.D; ++x) dot += dor[x] * outr[x];
      for (int64_t j = 0; j < g.T_kv; ++j) {
        if (!visible(q_segments, k_segments, i, j)) continue;
        const double p = std::exp(score(g, q, k, i, h, j) - row_lse);
        const int64_t kv = j * g.kv_row + h_kv * g.D;
        double dp = 0.0;
        for (int64_t x = 0; x < g.D; ++x) {
          dp += dor[x] * v[kv + x];
          dv[kv + x] += p * dor[x];
        }
        const double ds = p * (dp - dot) * g.scale;
        for (int64_t x = 0; x < g.D; ++x) {
          dq[i * g.q_row + h * g.D + x] += ds * k[kv + x];
          dk[kv + x] += ds * q[i * g.q_row + h * g.D + x];
        }
      }
    }
  }
}

}  // namespace longctx::kernels::ref
