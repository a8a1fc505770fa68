#include "eval/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace longctx::eval {

double t_quantile_975(int64_t dof) {
  static constexpr double kTable[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                        2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                        2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                        2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  LONGCTX_CHECK(dof >= 1, "t_quantile_975: degrees of freedom must be >= 1, got %lld",
                static_cast<long long>(dof));
  if (dof <= 30) return kTable[dof - 1];
  const double z = 1.959964, d = static_cast<double>(dof);
  return z + (z * z * z + z) / (4.0 * d);
}

MeanCi mean_ci95(std::span<const double> values) {
  MeanCi r;
  r.n = static_cast<int64_t>(values.size());
  if (r.n == 0) {
    r.mean = r.lo = r.hi = r.std_error = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double sum = 0;
  for (const double v : values) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n == 1) {
    r.lo = r.hi = r.std_error = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double ss = 0;
  for (const double v : values) ss += (v - r.mean) * (v - r.mean);
  const double sd = std::sqrt(ss / static_cast<double>(r.n - 1));
  r.std_error = sd / std::sqrt(static_cast<double>(r.n));
  const double half = t_quantile_975(r.n - 1) * r.std_error;
  r.lo = r.mean - half;
  r.hi = r.mean + half;
  return r;
}

BucketAverager::BucketAverager(int64_t width) : width_(width) {
  LONGCTX_CHECK(width >= 1, "bucket width must be >= 1 token, got %lld",
                static_cast<long long>(width));
}

void BucketAverager::add(int64_t position, double value) {
  LONGCTX_CHECK(position >= 0, "BucketAverager: negative position %lld",
                static_cast<long long>(position));
  const size_t b = static_cast<size_t>(position / width_);
  if (b >= sum_.size()) {
    sum_.resize(b + 1, 0.0);
    count_.resize(b + 1, 0);
  }
  sum_[b] += value;
  ++count_[b];
  max_position_ = std::max(max_position_, position);
}

void BucketAverager::add_range(int64_t first, std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) add(first + static_cast<int64_t>(i), values[i]);
}

std::vector<Bucket> BucketAverager::buckets() const {
  std::vector<Bucket> out;
  for (size_t b = 0; b < sum_.size(); ++b) {
    if (count_[b] == 0) continue;
    Bucket k;
    k.start = static_cast<int64_t>(b) * width_;
    k.end = std::min(k.start + width_, max_position_ + 1);
    k.count = count_[b];
    k.mean = sum_[b] / static_cast<double>(count_[b]);
    out.push_back(k);
  }
  return out;
}

nlohmann::json to_json(const std::vector<Bucket>& buckets) {
  nlohmann::json a = nlohmann::json::array();
  for (const Bucket& b : buckets)
    a.push_back({{"start", b.start}, {"end", b.end}, {"mean", b.mean}, {"count", b.count}});
  return a;
}

int64_t effective_length(std::span<const int64_t> lengths, std::span<const double> scores,
                         double fraction) {
  LONGCTX_CHECK(lengths.size() == scores.size(), "effective_length: %zu lengths, %zu scores",
                lengths.size(), scores.size());
  if (lengths.empty() || !(scores[0] > 0)) return 0;
  int64_t best = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    LONGCTX_CHECK(i == 0 || lengths[i] > lengths[i - 1], "effective_length: lengths not ascending");
    if (!(scores[i] >= fraction * scores[0])) break;
    best = lengths[i];
  }
  return best;
}

}  // namespace longctx::eval
