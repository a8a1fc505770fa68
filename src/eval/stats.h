// Statistics shared by the evaluations: mean with a 95% confidence interval over independent
// units (documents, prompts), per-position averaging in buckets, and the effective length.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace longctx::eval {

// Mean of n values with a two-sided 95% Student-t interval mean +- t(n-1) * s / sqrt(n)
// (s = sample standard deviation). With n = 1 the interval is undefined: lo = hi = NaN.
struct MeanCi {
  double mean = 0, lo = 0, hi = 0, std_error = 0;
  int64_t n = 0;
};
MeanCi mean_ci95(std::span<const double> values);

// 0.975 quantile of Student's t with `dof` degrees of freedom (table to 30, then the
// Cornish-Fisher expansion z + (z^3 + z) / (4 dof), error < 0.002).
double t_quantile_975(int64_t dof);

// Averages values by position in buckets [k*width, (k+1)*width): mean over every value that
// fell in the bucket (all samples, all positions of the bucket). The last bucket is cut at
// the largest position seen plus one.
struct Bucket {
  int64_t start = 0, end = 0;  // positions [start, end)
  double mean = 0;
  int64_t count = 0;
};
class BucketAverager {
 public:
  explicit BucketAverager(int64_t width);  // throws Error when width < 1
  void add(int64_t position, double value);
  // values (n): value i at position first + i.
  void add_range(int64_t first, std::span<const float> values);
  std::vector<Bucket> buckets() const;  // empty buckets are left out
  int64_t width() const { return width_; }

 private:
  int64_t width_;
  int64_t max_position_ = -1;
  std::vector<double> sum_;
  std::vector<int64_t> count_;
};
nlohmann::json to_json(const std::vector<Bucket>& buckets);

// Effective length of a probe: the longest length L such that the score at every length
// up to L is at least `fraction` of the score at the shortest length. lengths ascending,
// scores the same size. 0 when the shortest length itself scores <= 0 (nothing to keep).
int64_t effective_length(std::span<const int64_t> lengths, std::span<const double> scores,
                         double fraction = 0.85);

}  // namespace longctx::eval
