// The gradient-check harness used by every op test.
//
// An op is checked in two steps:
//  1. Its double-precision reference backward against central differences of its double
//     reference forward. The scalar loss is L = sum(G * y) with a random G: never sum(y), whose
//     gradient through a softmax is identically zero and would hide bugs.
//  2. Its float32 fast path against the double reference at |got - ref| <= atol + rtol * |ref|.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/random.h"

namespace hsanet::testing {

using Arrays = std::vector<std::vector<double>>;
// Forward: the op's inputs -> its output (flattened).
using ForwardFn = std::function<std::vector<double>(const Arrays& inputs)>;
// Backward: inputs and the output's gradient G -> one gradient per input (same sizes).
using BackwardFn = std::function<Arrays(const Arrays& inputs, const std::vector<double>& G)>;

struct GradCheckOptions {
  double eps = 1e-6;           // central-difference step
  double atol = 1e-6;
  double rtol = 1e-5;
  int max_points = 0;          // per input: 0 checks every element (full Jacobian-vector check),
                               // otherwise a seeded random subset of this many elements
  uint64_t seed = 1234;
  std::vector<int> skip;       // inputs not to check (integer-valued ones, say)
};

inline std::vector<double> random_vector(size_t n, Rng& rng, double scale = 1.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

inline std::vector<float> to_float(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Step 1: analytic (reference) gradients against numerical ones, for every input argument.
inline void expect_gradients_match(const ForwardFn& forward, const BackwardFn& backward,
                                   Arrays inputs, const GradCheckOptions& opt,
                                   const std::string& what) {
  Rng rng(opt.seed);
  const std::vector<double> y0 = forward(inputs);
  const std::vector<double> G = random_vector(y0.size(), rng);
  const Arrays analytic = backward(inputs, G);
  ASSERT_EQ(analytic.size(), inputs.size()) << what << ": backward returned the wrong count";
  auto loss = [&](const Arrays& in) {
    const std::vector<double> y = forward(in);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += G[i] * y[i];
    return s;
  };
  for (size_t a = 0; a < inputs.size(); ++a) {
    bool skipped = false;
    for (int s : opt.skip) skipped |= (static_cast<size_t>(s) == a);
    if (skipped) continue;
    ASSERT_EQ(analytic[a].size(), inputs[a].size()) << what << ": gradient " << a << " size";
    std::vector<size_t> points;
    const size_t n = inputs[a].size();
    if (opt.max_points <= 0 || static_cast<size_t>(opt.max_points) >= n) {
      for (size_t i = 0; i < n; ++i) points.push_back(i);
    } else {
      for (int p = 0; p < opt.max_points; ++p) points.push_back(rng.below(n));
    }
    int failures = 0;
    for (size_t i : points) {
      const double saved = inputs[a][i];
      inputs[a][i] = saved + opt.eps;
      const double lp = loss(inputs);
      inputs[a][i] = saved - opt.eps;
      const double lm = loss(inputs);
      inputs[a][i] = saved;
      const double numeric = (lp - lm) / (2 * opt.eps);
      const double got = analytic[a][i];
      if (!(std::fabs(got - numeric) <= opt.atol + opt.rtol * std::fabs(numeric))) {
        if (++failures <= 5)
          ADD_FAILURE() << what << ": input " << a << " element " << i << ": analytic " << got
                        << " vs numeric " << numeric;
      }
    }
    EXPECT_EQ(failures, 0) << what << ": input " << a << " had " << failures << " of "
                           << points.size() << " gradient elements off";
  }
}

// Step 2: the float fast path against the double reference.
inline void expect_close(const float* got, const double* ref, size_t n, double atol, double rtol,
                         const std::string& what) {
  int failures = 0;
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    const double tol = atol + rtol * std::fabs(ref[i]);
    if (!(err <= tol)) {  // also catches NaN
      if (++failures <= 5)
        ADD_FAILURE() << what << ": element " << i << ": got " << got[i] << ", reference "
                      << ref[i] << " (error " << err << " > " << tol << ")";
    }
    if (err > worst) worst = err;
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << n
                         << " elements outside tolerance; worst error " << worst;
}

inline void expect_close(const std::vector<float>& got, const std::vector<double>& ref,
                         double atol, double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what << ": sizes differ";
  expect_close(got.data(), ref.data(), got.size(), atol, rtol, what);
}

}  // namespace hsanet::testing
