// Pooling (ops/pool.h): the double reference's gradients against central differences, and the
// Highway kernels against the reference on every compiled SIMD target -- the ResNet stem's
// 3x3/2 pad 1 max pool, the attention block's 2x2/2 ceil-mode average pool on odd maps, and
// general kernels, strides and paddings with channel counts around the vector width.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "hwy/targets.h"
#include "ops/pool.h"
#include "ops/pool_ref.h"

namespace hsanet {
namespace {

using ops::Pool2dShape;
using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::GradCheckOptions;
using testing::random_vector;
using testing::to_float;

using testing::for_each_target;

Pool2dShape make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t K, int64_t stride,
                 int64_t pad, bool ceil_mode = false, bool count_include_pad = true) {
  Pool2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.KH = K, s.KW = K;
  s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad;
  s.ceil_mode = ceil_mode, s.count_include_pad = count_include_pad;
  return s;
}

std::string name(const Pool2dShape& s) {
  return "N" + std::to_string(s.N) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + "x" +
         std::to_string(s.C) + " k" + std::to_string(s.KH) + "x" + std::to_string(s.KW) + " s" +
         std::to_string(s.stride_h) + "," + std::to_string(s.stride_w) + " p" +
         std::to_string(s.pad_h) + "," + std::to_string(s.pad_w) + (s.ceil_mode ? " ceil" : "") +
         (s.count_include_pad ? "" : " exclude-pad");
}

int64_t in_size(const Pool2dShape& s) { return s.N * s.H * s.W * s.C; }
int64_t out_size(const Pool2dShape& s) { return s.N * s.OH() * s.OW() * s.C; }

std::vector<Pool2dShape> shapes() {
  std::vector<Pool2dShape> v = {
      make(2, 9, 9, 5, 3, 2, 1),              // ResNet stem max pool, odd map
      make(1, 8, 7, 17, 3, 2, 1),             // non-square, channels just past a vector
      make(2, 7, 7, 3, 2, 2, 0, true),        // attention block avg pool: 7x7 -> 4x4, ceil
      make(1, 5, 6, 16, 2, 2, 0, true),       // ceil on one axis only (5 odd, 6 even)
      make(1, 6, 5, 4, 3, 1, 1),              // overlapping windows, stride 1
      make(2, 5, 5, 2, 3, 2, 1, true),        // ceil with padding: a window dropped
      make(1, 7, 5, 3, 3, 2, 1, true, false), // average excluding the padding
      make(1, 4, 4, 33, 4, 3, 2, true),       // kernel 4, stride 3, pad 2 (half the kernel)
  };
  Pool2dShape rect = make(1, 6, 9, 3, 1, 1, 0);
  rect.KH = 2, rect.KW = 3, rect.stride_h = 1, rect.stride_w = 2, rect.pad_w = 1;
  v.push_back(rect);
  return v;
}

TEST(Pool, OutputSizeFollowsPyTorch) {
  EXPECT_EQ(make(1, 112, 112, 1, 3, 2, 1).OH(), 56);           // the stem
  EXPECT_EQ(make(1, 7, 7, 1, 2, 2, 0, true).OH(), 4);          // ceil((7-2)/2)+1
  EXPECT_EQ(make(1, 7, 7, 1, 2, 2, 0, false).OH(), 3);
  EXPECT_EQ(make(1, 14, 14, 1, 2, 2, 0, true).OH(), 7);
  // ceil would give 4 windows, but the 4th would start at 6 >= H + pad = 5 + 1: dropped.
  EXPECT_EQ(make(1, 5, 5, 1, 3, 2, 1, true).OH(), 3);
  EXPECT_EQ(make(1, 6, 6, 1, 3, 2, 1, true).OH(), 4);
}

TEST(Pool, AverageDivisorsAtCeilModeEdges) {
  // 3x3 map of ones, 2x2/2 ceil: outputs 2x2; the edge windows hold 2, 2 and 1 inputs and
  // (no padding) divide by exactly those counts, so every output is 1.
  const Pool2dShape s = make(1, 3, 3, 1, 2, 2, 0, true);
  std::vector<float> x(9, 1.f), y(4, 0.f);
  ops::avg_pool2d_forward(s, x.data(), y.data());
  for (float v : y) EXPECT_FLOAT_EQ(v, 1.f);
  // With padding 1 and count_include_pad, a corner window 3x3 covers 4 inputs and 5 pads.
  const Pool2dShape p = make(1, 3, 3, 1, 3, 2, 1);
  std::vector<float> yp(4);
  ops::avg_pool2d_forward(p, x.data(), yp.data());
  for (float v : yp) EXPECT_FLOAT_EQ(v, 4.f / 9.f);
}

TEST(Pool, ReferenceGradientsMatchFiniteDifferences) {
  for (const Pool2dShape& s : shapes()) {
    Rng rng(7);
    Arrays in{random_vector(in_size(s), rng)};
    expect_gradients_match(
        [&](const Arrays& a) {
          std::vector<double> y(out_size(s));
          ops::ref::avg_pool2d_forward(s, a[0].data(), y.data());
          return y;
        },
        [&](const Arrays&, const std::vector<double>& G) {
          Arrays g{std::vector<double>(in_size(s))};
          ops::ref::avg_pool2d_backward(s, G.data(), g[0].data());
          return g;
        },
        in, GradCheckOptions{}, "avg_pool2d reference " + name(s));
    // Max pool: distinct random inputs keep every maximum a strict one, so the +-eps
    // perturbations never change which element wins.
    expect_gradients_match(
        [&](const Arrays& a) {
          std::vector<double> y(out_size(s));
          ops::ref::max_pool2d_forward(s, a[0].data(), y.data(), static_cast<int32_t*>(nullptr));
          return y;
        },
        [&](const Arrays& a, const std::vector<double>& G) {
          std::vector<double> y(out_size(s));
          std::vector<int32_t> arg(out_size(s));
          ops::ref::max_pool2d_forward(s, a[0].data(), y.data(), arg.data());
          Arrays g{std::vector<double>(in_size(s))};
          ops::ref::max_pool2d_backward(s, G.data(), arg.data(), g[0].data());
          return g;
        },
        in, GradCheckOptions{}, "max_pool2d reference " + name(s));
  }
}

TEST(Pool, FastPathMatchesReference) {
  for_each_target([] {
    for (const Pool2dShape& s : shapes()) {
      SCOPED_TRACE(name(s));
      Rng rng(9);
      const std::vector<double> x = random_vector(in_size(s), rng);
      const std::vector<double> dy = random_vector(out_size(s), rng);
      const std::vector<float> xf = to_float(x), dyf = to_float(dy);
      const size_t no = static_cast<size_t>(out_size(s)), ni = static_cast<size_t>(in_size(s));

      std::vector<double> y_ref(no), dx_ref(ni);
      std::vector<int32_t> arg_ref(no);
      ops::ref::max_pool2d_forward(s, x.data(), y_ref.data(), arg_ref.data());
      ops::ref::max_pool2d_backward(s, dy.data(), arg_ref.data(), dx_ref.data());
      std::vector<float> y(no, -7.f), dx(ni, -7.f);
      std::vector<int32_t> arg(no, -1);
      ops::max_pool2d_forward(s, xf.data(), y.data(), arg.data());
      expect_close(y, y_ref, 0, 0, "max forward");
      EXPECT_EQ(arg, arg_ref) << "max pool argmax";
      ops::max_pool2d_backward(s, dyf.data(), arg.data(), dx.data());
      expect_close(dx, dx_ref, 1e-6, 1e-6, "max backward");

      ops::ref::avg_pool2d_forward(s, x.data(), y_ref.data());
      ops::ref::avg_pool2d_backward(s, dy.data(), dx_ref.data());
      ops::avg_pool2d_forward(s, xf.data(), y.data());
      expect_close(y, y_ref, 1e-6, 1e-5, "avg forward");
      ops::avg_pool2d_backward(s, dyf.data(), dx.data());
      expect_close(dx, dx_ref, 1e-6, 1e-5, "avg backward");
    }
  });
}

TEST(Pool, MaxPoolTiesPickTheFirstAndNaNPropagates) {
  for_each_target([] {
    const Pool2dShape s = make(1, 2, 2, 3, 2, 2, 0);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // channel 0: all equal (first wins), 1: NaN at position 2, 2: all -inf (still a position).
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> x = {5, 1, -inf, 5, 2, -inf, 5, nan, -inf, 5, 3, -inf};
    std::vector<float> y(3);
    std::vector<int32_t> arg(3, -1);
    ops::max_pool2d_forward(s, x.data(), y.data(), arg.data());
    EXPECT_EQ(y[0], 5.f);
    EXPECT_EQ(arg[0], 0);
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_EQ(arg[1], 2);
    EXPECT_EQ(y[2], -inf);
    EXPECT_EQ(arg[2], 0);
  });
}

TEST(Pool, BadGeometryThrows) {
  std::vector<float> buf(256);
  EXPECT_THROW(ops::max_pool2d_forward(make(1, 4, 4, 1, 2, 2, 2), buf.data(), buf.data(), nullptr),
               std::invalid_argument);  // padding more than half the kernel
  EXPECT_THROW(ops::avg_pool2d_forward(make(1, 2, 2, 1, 5, 1, 1), buf.data(), buf.data()),
               std::invalid_argument);  // kernel larger than the padded input
  EXPECT_THROW(ops::avg_pool2d_forward(make(1, 4, 4, 1, 2, 0, 0), buf.data(), buf.data()),
               std::invalid_argument);  // stride 0
}

}  // namespace
}  // namespace hsanet
