// Naive double-precision attention: for each (batch, head, query row) the
// scores against every visible key are materialised, softmaxed and used
// directly. O(T_kv) scratch per row; clarity over speed.
#include "kernels/attention_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_geometry.h"

namespace longctx::kernels::ref {
namespace {

using attention_detail::AttentionGeometry;

// Softmax probabilities p (T_kv) of one query row; masked keys get 0.
// Returns the natural-log log-sum-exp of the visible scaled scores.
double row_probabilities(std::vector<double>& p, const AttentionGeometry& g, const double* q_row,
                         const double* k_batch, int64_t h_kv, int64_t abs_pos,
                         const int32_t* seg_batch) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < g.T_kv; ++j) {
    const bool visible = j <= abs_pos && (seg_batch == nullptr || seg_batch[j] == seg_batch[abs_pos]);
    if (!visible) {
      p[j] = -std::numeric_limits<double>::infinity();
      continue;
    }
    const double* k_row = k_batch + j * g.kv_row + h_kv * g.D;
    double s = 0.0;
    for (int64_t d = 0; d < g.D; ++d) s += q_row[d] * k_row[d];
    p[j] = s * g.scale;
    m = std::max(m, p[j]);
  }
  double sum = 0.0;
  for (int64_t j = 0; j < g.T_kv; ++j) {
    p[j] = std::isinf(p[j]) ? 0.0 : std::exp(p[j] - m);
    sum += p[j];
  }
  for (int64_t j = 0; j < g.T_kv; ++j) p[j] /= sum;
  return m + std::log(sum);
}

}  // namespace

void attention_forward(double* out, double* lse, const double* q, const double* k,
                       const double* v, const AttentionShape& shape,
                       const int32_t* segment_ids) {
  const AttentionGeometry g = attention_detail::make_attention_geometry(shape, "ref::attention_forward");
  LONGCTX_CHECK(out && q && k && v, "ref::attention_forward: out, q, k and v must not be null");
  std::vector<double> p(static_cast<size_t>(g.T_kv));
  for (int64_t b = 0; b < g.B; ++b) {
    const double* k_batch = k + b * g.kv_batch;
    const double* v_batch = v + b * g.kv_batch;
    const int32_t* seg = segment_ids ? segment_ids + b * g.T_kv : nullptr;
    for (int64_t h = 0; h < g.H; ++h) {
      const int64_t h_kv = h / g.G;
      for (int64_t i = 0; i < g.T_q; ++i) {
        const int64_t row = (b * g.T_q + i) * g.q_row + h * g.D;
        const double row_lse = row_probabilities(p, g, q + row, k_batch, h_kv, g.pos_offset + i, seg);
        if (lse) lse[(b * g.H + h) * g.T_q + i] = row_lse;
        for (int64_t d = 0; d < g.D; ++d) out[row + d] = 0.0;
        for (int64_t j = 0; j < g.T_kv; ++j) {
          if (p[j] == 0.0) continue;
          const double* v_row = v_batch + j * g.kv_row + h_kv * g.D;
          for (int64_t d = 0; d < g.D; ++d) out[row + d] += p[j] * v_row[d];
        }
      }
    }
  }
}

void attention_backward(double* dq, double* dk, double* dv, const double* dout, const double* q,
                        const double* k, const double* v, const AttentionShape& shape,
                        const int32_t* segment_ids) {
  const AttentionGeometry g = attention_detail::make_attention_geometry(shape, "ref::attention_backward");
  LONGCTX_CHECK(dq && dk && dv && dout && q && k && v,
                "ref::attention_backward: no pointer argument may be null");
  std::fill(dq, dq + g.B * g.T_q * g.q_row, 0.0);
  std::fill(dk, dk + g.B * g.dkv_batch, 0.0);
  std::fill(dv, dv + g.B * g.dkv_batch, 0.0);
  std::vector<double> p(static_cast<size_t>(g.T_kv)), dp(static_cast<size_t>(g.T_kv));
  for (int64_t b = 0; b < g.B; ++b) {
    const double* k_batch = k + b * g.kv_batch;
    const double* v_batch = v + b * g.kv_batch;
    double* dk_batch = dk + b * g.dkv_batch;
    double* dv_batch = dv + b * g.dkv_batch;
    const int32_t* seg = segment_ids ? segment_ids + b * g.T_kv : nullptr;
    for (int64_t h = 0; h < g.H; ++h) {
      const int64_t h_kv = h / g.G;
      for (int64_t i = 0; i < g.T_q; ++i) {
        const int64_t row = (b * g.T_q + i) * g.q_row + h * g.D;
        row_probabilities(p, g, q + row, k_batch, h_kv, g.pos_offset + i, seg);
        // out = sum_j p_j v_j;  dp_j = dout . v_j;  ds_j = p_j (dp_j - sum_l p_l dp_l).
        double p_dot_dp = 0.0;
        for (int64_t j = 0; j < g.T_kv; ++j) {
          dp[j] = 0.0;
          if (p[j] == 0.0) continue;
          const double* v_row = v_batch + j * g.kv_row + h_kv * g.D;
          double* dv_row = dv_batch + j * g.kv_row + h_kv * g.D;
          for (int64_t d = 0; d < g.D; ++d) {
            dp[j] += dout[row + d] * v_row[d];
            dv_row[d] += p[j] * dout[row + d];
          }
          p_dot_dp += p[j] * dp[j];
        }
        for (int64_t j = 0; j < g.T_kv; ++j) {
          if (p[j] == 0.0) continue;
          const double ds = p[j] * (dp[j] - p_dot_dp) * g.scale;  // d loss / d (q.k)
          const double* k_row = k_batch + j * g.kv_row + h_kv * g.D;
          double* dk_row = dk_batch + j * g.kv_row + h_kv * g.D;
          for (int64_t d = 0; d < g.D; ++d) {
            dq[row + d] += ds * k_row[d];
            dk_row[d] += ds * q[row + d];
          }
        }
      }
    }
  }
}

}  // namespace longctx::kernels::ref
