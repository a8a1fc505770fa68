// Header-only helpers for kernel, attention and model tests: seeded random
// fills, error norms and a central finite-difference gradient in double.
// Everything is deterministic given the seed, so a failing test reproduces.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace longctx::testing {

// Fills x (n) with N(mean, stddev) draws from std::mt19937_64(seed).
template <class T>
void fill_normal(T* x, int64_t n, uint64_t seed, double stddev = 1.0, double mean = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, stddev);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(dist(rng));
}

// Fills x (n) with U[lo, hi) draws from std::mt19937_64(seed).
template <class T>
void fill_uniform(T* x, int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(dist(rng));
}

template <class T>
std::vector<T> random_normal(int64_t n, uint64_t seed, double stddev = 1.0, double mean = 0.0) {
  std::vector<T> v(static_cast<size_t>(n));
  fill_normal(v.data(), n, seed, stddev, mean);
  return v;
}

template <class T>
std::vector<T> random_uniform(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, seed, lo, hi);
  return v;
}

// Integers uniform in [lo, hi] (inclusive), e.g. token ids.
inline std::vector<int32_t> random_ints(int64_t n, uint64_t seed, int32_t lo, int32_t hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = dist(rng);
  return v;
}

// Converts between precisions (float kernels vs double references).
template <class To, class From>
std::vector<To> convert(const From* x, int64_t n) {
  std::vector<To> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<To>(x[i]);
  return v;
}
template <class To, class From>
std::vector<To> convert(const std::vector<From>& x) {
  return convert<To>(x.data(), static_cast<int64_t>(x.size()));
}

// max_i |a_i - b_i| in double; NaN anywhere makes the result NaN (so checks fail).
template <class A, class B>
double max_abs_diff(const A* a, const B* b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) return NAN;
    m = std::max(m, d);
  }
  return m;
}
template <class A, class B>
double max_abs_diff(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  return max_abs_diff(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

// Normalised error ||a - b||_2 / ||b||_2, with b the reference (like the
// normalised error llama.cpp's test-backend-ops uses, taken as a norm ratio
// rather than squared). A zero reference gives ||a||_2 (absolute), so an all-
// zero output compared against an all-zero reference is 0, not NaN.
// Typical bounds: float kernel vs double reference ~1e-6 .. 1e-5.
template <class A, class B>
double max_rel_error(const A* a, const B* b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  if (std::isnan(num)) return NAN;
  return den > 0.0 ? std::sqrt(num / den) : std::sqrt(num);
}
template <class A, class B>
double max_rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  return max_rel_error(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

// Central finite differences of a scalar function: g_i = (f(x + h e_i) - f(x - h e_i)) / 2h.
// Error O(h^2 f''') + O(eps_f / h); with double f and h ~ 1e-5 the result is
// good to ~1e-9 relative for smooth f. x is taken by value and restored per entry.
inline std::vector<double> finite_difference_gradient(
    const std::function<double(const std::vector<double>&)>& f, std::vector<double> x, double h) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    x[i] = xi + h;
    const double fp = f(x);
    x[i] = xi - h;
    const double fm = f(x);
    x[i] = xi;
    g[i] = (fp - fm) / (2.0 * h);
  }
  return g;
}

// Dot product in double, e.g. to form a scalar loss sum(dout * y) for gradient checks.
template <class A, class B>
double dot(const A* a, const B* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

}  // namespace longctx::testing
