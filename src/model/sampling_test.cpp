// Sampling: greedy ties, seeded reproducibility, the sampled distribution, and
// the truncations (top-k, top-p).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/sampling.h"

namespace longctx::model {
namespace {

TEST(Sampling, ArgmaxTakesLowestIdOnTiesAndSkipsNaN) {
  const std::vector<float> l = {1.0f, 3.0f, NAN, 3.0f, -2.0f};
  EXPECT_EQ(argmax(l.data(), 5), 1);
  const std::vector<float> nan_first = {NAN, -1.0f, -0.5f};
  EXPECT_EQ(argmax(nan_first.data(), 3), 2);
  Sampler greedy({.temperature = 0.0f});
  EXPECT_EQ(greedy.sample(l.data(), 5), 1);
}

std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.sample(logits.data(), static_cast<int64_t>(logits.size())))];
  std::vector<double> f;
  for (int c : counts) f.push_back(static_cast<double>(c) / n);
  return f;
}

TEST(Sampling, MatchesSoftmaxAtTemperature) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s({.temperature = 1.0f, .seed = 1});
  const std::vector<double> f = frequencies(s, logits, 20000);
  // 20000 draws: standard error <= 0.0036; tolerance 0.015 (> 4 sigma).
  EXPECT_NEAR(f[0], 0.5, 0.015);
  EXPECT_NEAR(f[1], 0.3, 0.015);
  EXPECT_NEAR(f[2], 0.2, 0.015);
  // Temperature 0.5 squares the probabilities: 0.25, 0.09, 0.04 over 0.38.
  Sampler cold({.temperature = 0.5f, .seed = 2});
  const std::vector<double> g = frequencies(cold, logits, 20000);
  EXPECT_NEAR(g[0], 0.25 / 0.38, 0.015);
  EXPECT_NEAR(g[2], 0.04 / 0.38, 0.015);
}

TEST(Sampling, TopPAndTopKTruncate) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler top_p({.top_p = 0.6f, .seed = 3});  // 0.5 < 0.6 <= 0.8: keeps ids 0 and 1
  const std::vector<double> f = frequencies(top_p, logits, 10000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.02);
  Sampler top_k({.top_k = 1, .seed = 4});
  const std::vector<double> g = frequencies(top_k, logits, 1000);
  EXPECT_EQ(g[0], 1.0);
}

TEST(Sampling, SeededAndReproducible) {
  std::vector<float> logits(100);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  Sampler a({.temperature = 0.8f, .top_p = 0.9f, .seed = 42}), b({.temperature = 0.8f, .top_p = 0.9f, .seed = 42}),
      c({.temperature = 0.8f, .top_p = 0.9f, .seed = 43});
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 50; ++i) {
    sa.push_back(a.sample(logits.data(), 100));
    sb.push_back(b.sample(logits.data(), 100));
    sc.push_back(c.sample(logits.data(), 100));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(Sampling, InvalidParamsNameTheField) {
  auto expect_error_naming = [](SamplingParams p, const char* field) {
    try {
      Sampler s(p);
      ADD_FAILURE() << "no error for " << field;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  expect_error_naming({.temperature = -1.0f}, "temperature");
  expect_error_naming({.top_p = 0.0f}, "top_p");
  expect_error_naming({.top_p = 1.5f}, "top_p");
  expect_error_naming({.top_k = -2}, "top_k");
}

}  // namespace
}  // namespace longctx::model
