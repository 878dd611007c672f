// Row softmax, log-softmax and softmax backward (ops/softmax.h): a scalar reference in double,
// its gradient against central differences, and the Highway kernels against it at row lengths
// around the vector width, at several input magnitudes and at logits of +-1e4.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "hwy/targets.h"
#include "ops/softmax.h"

namespace hsanet {
namespace {

using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::random_vector;

using testing::for_each_target;

// Scalar reference straight from the definition: y_i = exp(x_i - max) / sum_j exp(x_j - max).
template <typename T>
std::vector<T> softmax_ref(const std::vector<T>& x, int64_t rows, int64_t cols, bool log) {
  std::vector<T> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x.data() + r * cols;
    T m = xr[0];
    for (int64_t i = 1; i < cols; ++i) m = std::max(m, xr[i]);
    T s = 0;
    for (int64_t i = 0; i < cols; ++i) s += std::exp(xr[i] - m);
    for (int64_t i = 0; i < cols; ++i)
      y[r * cols + i] = log ? xr[i] - m - std::log(s) : std::exp(xr[i] - m) / s;
  }
  return y;
}

// dx_i = y_i (dy_i - sum_j dy_j y_j), written as the Jacobian-vector product it is.
template <typename T>
std::vector<T> softmax_backward_ref(const std::vector<T>& y, const std::vector<T>& dy, int64_t rows,
                                    int64_t cols) {
  std::vector<T> dx(y.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < cols; ++i) {
      T acc = 0;  // sum_j dy_j * dy_j/dx_i, with dy_j/dx_i = y_j (delta_ij - y_i)
      for (int64_t j = 0; j < cols; ++j)
        acc += dy[r * cols + j] * y[r * cols + j] * ((i == j ? T(1) : T(0)) - y[r * cols + i]);
      dx[r * cols + i] = acc;
    }
  return dx;
}

TEST(Softmax, ReferenceGradientMatchesFiniteDifferences) {
  Rng rng(3);
  const int64_t rows = 3, cols = 7;
  Arrays in{random_vector(rows * cols, rng)};
  expect_gradients_match(
      [&](const Arrays& x) { return softmax_ref(x[0], rows, cols, false); },
      [&](const Arrays& x, const std::vector<double>& G) {
        return Arrays{softmax_backward_ref(softmax_ref(x[0], rows, cols, false), G, rows, cols)};
      },
      in, {}, "softmax reference");
}

TEST(Softmax, FastPathMatchesReference) {
  for_each_target([] {
    Rng rng(4);
    for (int64_t cols : {1, 3, 15, 16, 17, 33, 196, 1000}) {
      for (double scale : {1e-3, 1.0, 30.0}) {
        const int64_t rows = 5;
        const std::vector<double> x = random_vector(rows * cols, rng, scale);
        const std::vector<float> xf = testing::to_float(x);
        const std::string what = "cols " + std::to_string(cols) + " scale " + std::to_string(scale);
        std::vector<float> y(x.size()), ly(x.size());
        ops::softmax_rows(xf.data(), y.data(), rows, cols);
        ops::log_softmax_rows(xf.data(), ly.data(), rows, cols);
        // The reference sees exactly the float inputs, so only the kernel's arithmetic differs.
        const std::vector<double> xd = testing::to_double(xf);
        expect_close(y, softmax_ref(xd, rows, cols, false), 1e-6, 1e-5, "softmax " + what);
        expect_close(ly, softmax_ref(xd, rows, cols, true), 1e-5 * scale + 1e-5, 1e-5,
                     "log_softmax " + what);

        const std::vector<double> dy = random_vector(x.size(), rng);
        const std::vector<float> dyf = testing::to_float(dy);
        std::vector<float> dx(x.size());
        ops::softmax_rows_backward(y.data(), dyf.data(), dx.data(), rows, cols);
        expect_close(
            dx, softmax_backward_ref(testing::to_double(y), testing::to_double(dyf), rows, cols),
            1e-6, 1e-5, "softmax backward " + what);
      }
    }
  });
}

TEST(Softmax, InPlace) {
  Rng rng(5);
  const int64_t rows = 4, cols = 21;
  std::vector<float> x = testing::to_float(random_vector(rows * cols, rng));
  const std::vector<double> ref = softmax_ref(testing::to_double(x), rows, cols, false);
  const std::vector<double> lref = softmax_ref(testing::to_double(x), rows, cols, true);
  std::vector<float> lx = x;
  ops::softmax_rows(x.data(), x.data(), rows, cols);
  ops::log_softmax_rows(lx.data(), lx.data(), rows, cols);
  expect_close(x, ref, 1e-6, 1e-5, "softmax in place");
  expect_close(lx, lref, 1e-5, 1e-5, "log_softmax in place");
}

TEST(Softmax, HugeLogitsStayFinite) {
  // +-1e4 would overflow exp() without the max shift; the result must be exact one-hots.
  for_each_target([] {
    const int64_t rows = 2, cols = 19;
    std::vector<float> x(rows * cols, -1e4f);
    x[5] = 1e4f;         // row 0: one winner
    x[cols + 3] = 1e4f;  // row 1: two tied winners
    x[cols + 17] = 1e4f;
    std::vector<float> y(x.size()), ly(x.size());
    ops::softmax_rows(x.data(), y.data(), rows, cols);
    ops::log_softmax_rows(x.data(), ly.data(), rows, cols);
    for (int64_t i = 0; i < rows * cols; ++i) {
      ASSERT_TRUE(std::isfinite(y[i])) << "softmax element " << i;
      ASSERT_TRUE(std::isfinite(ly[i])) << "log_softmax element " << i;
    }
    EXPECT_FLOAT_EQ(y[5], 1.f);
    EXPECT_FLOAT_EQ(y[0], 0.f);
    EXPECT_FLOAT_EQ(y[cols + 3], 0.5f);
    EXPECT_FLOAT_EQ(y[cols + 17], 0.5f);
    EXPECT_FLOAT_EQ(ly[5], 0.f);
    EXPECT_FLOAT_EQ(ly[0], -2e4f);
    EXPECT_NEAR(ly[cols + 3], -std::log(2.f), 1e-6);
  });
}

TEST(Softmax, ManyRowsUseThreadsAndAgree) {
  // Enough work for the threaded path; each row must equal the single-row result bit for bit.
  Rng rng(6);
  const int64_t rows = 300, cols = 200;
  std::vector<float> x = testing::to_float(random_vector(rows * cols, rng, 3.0));
  std::vector<float> y(x.size()), one(cols);
  ops::softmax_rows(x.data(), y.data(), rows, cols);
  for (int64_t r = 0; r < rows; r += 37) {
    ops::softmax_rows(x.data() + r * cols, one.data(), 1, cols);
    for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(one[i], y[r * cols + i]) << "row " << r;
  }
}

}  // namespace
}  // namespace hsanet
