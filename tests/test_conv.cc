// Convolution (ops/conv2d.h): the double reference's gradients against central differences for
// input, weight and bias; the oneDNN path (forward training and inference, backward-data,
// backward-weights with and without bias) against the reference on odd, non-square, strided,
// padded, dilated, grouped and batch-1 geometries, and pointwise ones (which run as matmuls); the
// caches; and the argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gradcheck.h"
#include "highway_targets.h"
#include "ops/conv2d.h"
#include "ops/conv2d_ref.h"
#include "ops/winograd.h"

namespace hsanet {
namespace {

using ops::Conv2dShape;
using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::for_each_target;
using testing::GradCheckOptions;
using testing::random_vector;
using testing::to_double;
using testing::to_float;

// N, H, W, C, O, KH, KW, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups
Conv2dShape make(int64_t N, int64_t H, int64_t W, int64_t C, int64_t O, int64_t KH, int64_t KW,
                 int64_t sh = 1, int64_t sw = 1, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                 int64_t dw = 1, int64_t groups = 1) {
  Conv2dShape s;
  s.N = N, s.H = H, s.W = W, s.C = C, s.O = O, s.KH = KH, s.KW = KW;
  s.stride_h = sh, s.stride_w = sw, s.pad_h = ph, s.pad_w = pw;
  s.dilation_h = dh, s.dilation_w = dw, s.groups = groups;
  return s;
}

std::string name(const Conv2dShape& s) {
  return "N" + std::to_string(s.N) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + " " +
         std::to_string(s.C) + "->" + std::to_string(s.O) + " k" + std::to_string(s.KH) + "x" +
         std::to_string(s.KW) + " s" + std::to_string(s.stride_h) + "," +
         std::to_string(s.stride_w) + " p" + std::to_string(s.pad_h) + "," +
         std::to_string(s.pad_w) + " d" + std::to_string(s.dilation_h) + "," +
         std::to_string(s.dilation_w) + " g" + std::to_string(s.groups);
}

int64_t x_size(const Conv2dShape& s) { return s.N * s.H * s.W * s.C; }
int64_t w_size(const Conv2dShape& s) { return s.O * (s.C / s.groups) * s.KH * s.KW; }
int64_t y_size(const Conv2dShape& s) { return s.N * s.OH() * s.OW() * s.O; }

// Small geometries covering every feature; kept tiny so that the full Jacobian check is cheap.
std::vector<Conv2dShape> small_shapes() {
  return {
      make(2, 5, 4, 3, 4, 3, 3, 1, 1, 1, 1),           // odd, non-square image, pad 1
      make(1, 7, 6, 2, 3, 3, 2, 2, 2, 1, 0),           // batch 1, stride 2, 3x2 kernel
      make(2, 6, 6, 2, 2, 3, 3, 1, 1, 2, 2, 2, 2),     // dilation 2
      make(1, 5, 5, 4, 6, 3, 3, 2, 1, 1, 1, 1, 1, 2),  // groups 2, stride (2, 1)
      make(2, 4, 5, 3, 2, 1, 1, 2, 2),                 // 1x1 stride 2 (ResNet downsample)
      make(1, 7, 5, 3, 4, 1, 1, 3, 2),                 // 1x1 strides (3, 2), rows left unread
      make(2, 5, 4, 2, 3, 1, 1, 1, 2),                 // 1x1 strides (1, 2)
      make(2, 3, 5, 4, 3, 1, 1),                       // 1x1 stride 1: the matmul path
  };
}

TEST(Conv2d, ReferenceGradientsMatchFiniteDifferences) {
  for (const Conv2dShape& s : small_shapes()) {
    Rng rng(11);
    Arrays in{random_vector(x_size(s), rng), random_vector(w_size(s), rng),
              random_vector(s.O, rng)};
    auto forward = [&](const Arrays& a) {
      std::vector<double> y(y_size(s));
      ops::ref::conv2d_forward(s, a[0].data(), a[1].data(), a[2].data(), y.data());
      return y;
    };
    auto backward = [&](const Arrays& a, const std::vector<double>& G) {
      Arrays g{std::vector<double>(a[0].size()), std::vector<double>(a[1].size()),
               std::vector<double>(a[2].size())};
      ops::ref::conv2d_backward_data(s, G.data(), a[1].data(), g[0].data());
      ops::ref::conv2d_backward_weights(s, a[0].data(), G.data(), g[1].data(), g[2].data());
      return g;
    };
    expect_gradients_match(forward, backward, in, GradCheckOptions{}, "conv2d reference " + name(s));
  }
}

// The worst |a - ref| over the largest |ref|.
double error_over_scale(const std::vector<float>& a, const std::vector<double>& ref) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return worst / scale;
}

// Runs all three oneDNN passes on s and compares each with the double reference. Winograd's
// weight gradient sums its products in the transformed domain, whose values are several times
// the gradient's, so its error grows with the map instead of staying at float32's ~1e-7 of each
// element; for it pass wgrad_of_scale, a bound on the worst error over the largest gradient.
void check_fast_path(const Conv2dShape& s, bool with_bias, uint64_t seed, double wgrad_of_scale = 0,
                     ops::Conv2dAlgorithm algorithm = ops::Conv2dAlgorithm::kFast) {
  SCOPED_TRACE(name(s) + (with_bias ? " +bias" : ""));
  Rng rng(seed);
  const std::vector<double> x = random_vector(x_size(s), rng);
  const std::vector<double> w = random_vector(w_size(s), rng, 0.3);
  const std::vector<double> b = random_vector(s.O, rng);
  const std::vector<double> dy = random_vector(y_size(s), rng);
  const std::vector<float> xf = to_float(x), wf = to_float(w), bf = to_float(b), dyf = to_float(dy);
  // float32 sums of C*KH*KW products against exact ones.
  const double atol = 1e-4, rtol = 1e-4;

  std::vector<double> y_ref(y_size(s)), dx_ref(x.size()), dw_ref(w.size()), db_ref(s.O);
  ops::ref::conv2d_forward(s, x.data(), w.data(), with_bias ? b.data() : nullptr, y_ref.data());
  ops::ref::conv2d_backward_data(s, dy.data(), w.data(), dx_ref.data());
  ops::ref::conv2d_backward_weights(s, x.data(), dy.data(), dw_ref.data(), db_ref.data());

  auto owner = std::make_shared<int>(0);
  const ops::WeightId wid{owner, 0};
  for (bool training : {true, false}) {
    std::vector<float> y(y_size(s), -7.f);
    ops::conv2d_forward(s, xf.data(), wf.data(), with_bias ? bf.data() : nullptr, y.data(),
                        training, wid, algorithm);
    expect_close(y, y_ref, atol, rtol, training ? "forward (training)" : "forward (inference)");
  }
  std::vector<float> dx(x.size(), -7.f), dw(w.size(), -7.f), db(s.O, -7.f);
  const ops::Conv2dBlockedGradient blocked_dy =
      ops::conv2d_backward_data(s, dyf.data(), wf.data(), dx.data(), wid, false, algorithm);
  expect_close(dx, dx_ref, atol, rtol, "backward data");
  // As autograd calls it: right after backward-data with the same dy.
  ops::conv2d_backward_weights(s, xf.data(), dyf.data(), dw.data(), with_bias ? db.data() : nullptr,
                               blocked_dy, algorithm);
  if (wgrad_of_scale > 0)
    EXPECT_LT(error_over_scale(dw, dw_ref), wgrad_of_scale) << "backward weights";
  else
    expect_close(dw, dw_ref, atol, rtol, "backward weights");
  if (with_bias) expect_close(db, db_ref, atol, rtol, "backward bias");
}

TEST(Conv2d, FastPathMatchesReferenceOnSmallShapes) {
  uint64_t seed = 20;
  for (const Conv2dShape& s : small_shapes())
    for (bool bias : {false, true}) check_fast_path(s, bias, seed++);
}

TEST(Conv2d, FastPathMatchesReferenceOnResNetLikeShapes) {
  // Channel counts at and around oneDNN's 16-wide blocks, where its kernels switch code paths.
  check_fast_path(make(2, 9, 9, 16, 16, 3, 3, 1, 1, 1, 1), false, 1);      // 3x3 pad 1
  check_fast_path(make(1, 9, 7, 32, 48, 3, 3, 2, 2, 1, 1), false, 2);      // 3x3/2, odd map
  check_fast_path(make(2, 8, 8, 64, 32, 1, 1), false, 3);                  // 1x1 reduce (matmul)
  check_fast_path(make(1, 7, 5, 24, 72, 1, 1), true, 8);                   // 1x1 expand + bias
  check_fast_path(make(1, 8, 8, 32, 64, 1, 1, 2, 2), false, 4);            // 1x1/2 downsample
  check_fast_path(make(2, 17, 15, 3, 16, 7, 7, 2, 2, 3, 3), false, 5);     // the 7x7/2 stem
  check_fast_path(make(1, 6, 6, 20, 36, 3, 3, 1, 1, 1, 1), true, 6);       // not multiples of 16
  check_fast_path(make(1, 5, 5, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 32), false, 7);  // depthwise
}

// The worst |y - y_ref| of the forward over the largest |y_ref|.
double forward_error(const Conv2dShape& s, const std::vector<double>& x, const std::vector<double>& w,
                     ops::Conv2dAlgorithm algorithm) {
  std::vector<double> y_ref(y_size(s));
  ops::ref::conv2d_forward(s, x.data(), w.data(), static_cast<const double*>(nullptr), y_ref.data());
  std::vector<float> y(y_size(s));
  ops::conv2d_forward(s, to_float(x).data(), to_float(w).data(), nullptr, y.data(), true, {},
                      algorithm);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    worst = std::max(worst, std::fabs(y[i] - y_ref[i]));
    scale = std::max(scale, std::fabs(y_ref[i]));
  }
  return worst / scale;
}

// Under the direct setting s takes none of the fast setting's paths (the counter `fast_runs`
// reads does not move) and still matches the reference. Returns the forward's error (over the
// output's scale) under the fast setting and under the direct one, on the same random x and w.
std::pair<double, double> fast_and_direct_errors(const Conv2dShape& s, int64_t (*fast_runs)(),
                                                 uint64_t seed) {
  Rng rng(seed);
  const std::vector<double> x = random_vector(x_size(s), rng), w = random_vector(w_size(s), rng, 0.3);
  const double fast = forward_error(s, x, w, ops::Conv2dAlgorithm::kFast);
  const auto direct = ops::Conv2dAlgorithm::kDirect;
  EXPECT_FALSE(ops::conv2d_uses_winograd(s, direct) || ops::conv2d_uses_winograd2x2(s, direct));
  const int64_t before = fast_runs();
  check_fast_path(s, true, seed + 1, 0, direct);
  EXPECT_EQ(fast_runs(), before) << "the direct setting ran a fast path";
  return {fast, forward_error(s, x, w, direct)};
}

TEST(Conv2d, WinogradRunsWhereItPaysAndMatchesTheReference) {
  // 56x58 outputs, channels in 16s: oneDNN's Winograd in all three directions under the fast
  // setting (the default), direct when asked. A width that is not a multiple of 4, so the 4x4
  // output tiles overhang the map.
  const Conv2dShape s = make(1, 56, 58, 32, 48, 3, 3, 1, 1, 1, 1);
  if (!ops::conv2d_uses_winograd(s)) GTEST_SKIP() << "oneDNN has no Winograd on this CPU (no AVX-512)";
  EXPECT_FALSE(ops::conv2d_uses_winograd(make(2, 14, 14, 32, 48, 3, 3, 1, 1, 1, 1)));  // too small
  EXPECT_FALSE(ops::conv2d_uses_winograd(make(2, 56, 56, 32, 48, 3, 3, 2, 2, 1, 1)));  // stride 2
  EXPECT_FALSE(ops::conv2d_uses_winograd(make(2, 28, 28, 24, 48, 3, 3, 1, 1, 1, 1)));  // 24 channels
  ops::conv2d_clear_caches();
  const int64_t before = ops::conv2d_cache_stats().winograd_primitives;
  check_fast_path(s, true, 31, 2e-5);
  // Forward training and inference, backward data, backward weights.
  EXPECT_EQ(ops::conv2d_cache_stats().winograd_primitives - before, 4);

  const auto [winograd, direct] = fast_and_direct_errors(
      s, [] { return ops::conv2d_cache_stats().winograd_primitives; }, 32);
  // Measured here: Winograd 1.6e-6 of the output's scale, direct 7.6e-7 (docs/conv.md); its
  // weight gradient 1.4e-6 of the gradient's scale. The
  // bounds leave room for other CPUs' kernels (another summation order); a wrong transform or
  // layout is off by far more.
  EXPECT_LT(winograd, 2e-5);
  EXPECT_LT(direct, 5e-6);
  std::printf("forward error relative to max |y|: Winograd %.2g, direct %.2g\n", winograd, direct);
}

TEST(Conv2d, WinogradBackwardWeightsReusesOnlyTheSameBlockedGradient) {
  // On oneDNN's Winograd both backward passes convert dy to nChw16c; the backward-weights that
  // directly follows backward-data with the same dy reads that conversion, and nothing else does:
  // another dy, or any use of the scratch buffer in between, makes it convert again.
  const Conv2dShape s = make(1, 56, 58, 32, 48, 3, 3, 1, 1, 1, 1);
  if (!ops::conv2d_uses_winograd(s)) GTEST_SKIP() << "oneDNN has no Winograd on this CPU (no AVX-512)";
  Rng rng(35);
  const std::vector<double> x = random_vector(x_size(s), rng), w = random_vector(w_size(s), rng, 0.3);
  const std::vector<double> dy1 = random_vector(y_size(s), rng), dy2 = random_vector(y_size(s), rng);
  const std::vector<float> xf = to_float(x), wf = to_float(w), dy1f = to_float(dy1), dy2f = to_float(dy2);
  std::vector<float> dx(x.size()), dw(w.size()), y(y_size(s));
  auto expect_weight_gradient_of = [&](const std::vector<double>& dy, const char* what) {
    std::vector<double> dw_ref(w.size());
    ops::ref::conv2d_backward_weights(s, x.data(), dy.data(), dw_ref.data(), static_cast<double*>(nullptr));
    EXPECT_LT(error_over_scale(dw, dw_ref), 2e-5) << what;
  };
  auto reuses = [] { return ops::conv2d_cache_stats().blocked_dy_reuses; };
  int64_t before = reuses();
  ops::Conv2dBlockedGradient blocked = ops::conv2d_backward_data(s, dy1f.data(), wf.data(), dx.data());
  EXPECT_FALSE(blocked.empty());
  ops::conv2d_backward_weights(s, xf.data(), dy1f.data(), dw.data(), nullptr, blocked);
  EXPECT_EQ(reuses() - before, 1);
  expect_weight_gradient_of(dy1, "reusing backward-data's conversion");

  before = reuses();  // the handle used a second time: the first use handed the buffer out again
  ops::conv2d_backward_weights(s, xf.data(), dy1f.data(), dw.data(), nullptr, blocked);
  EXPECT_EQ(reuses() - before, 0);
  expect_weight_gradient_of(dy1, "handle used twice");

  before = reuses();  // another dy than backward-data's
  blocked = ops::conv2d_backward_data(s, dy1f.data(), wf.data(), dx.data());
  ops::conv2d_backward_weights(s, xf.data(), dy2f.data(), dw.data(), nullptr, blocked);
  EXPECT_EQ(reuses() - before, 0);
  expect_weight_gradient_of(dy2, "another dy");

  before = reuses();  // the scratch buffer used in between (a forward writes its output there)
  blocked = ops::conv2d_backward_data(s, dy2f.data(), wf.data(), dx.data());
  ops::conv2d_forward(s, dx.data(), wf.data(), nullptr, y.data(), true);
  ops::conv2d_backward_weights(s, xf.data(), dy2f.data(), dw.data(), nullptr, blocked);
  EXPECT_EQ(reuses() - before, 0);
  expect_weight_gradient_of(dy2, "scratch used in between");

  before = reuses();  // the caches cleared in between
  blocked = ops::conv2d_backward_data(s, dy2f.data(), wf.data(), dx.data());
  ops::conv2d_clear_caches();
  ops::conv2d_backward_weights(s, xf.data(), dy2f.data(), dw.data(), nullptr, blocked);
  EXPECT_EQ(reuses() - before, 0);
  expect_weight_gradient_of(dy2, "caches cleared in between");

  before = reuses();  // the caller does not vouch for dy
  ops::conv2d_backward_data(s, dy1f.data(), wf.data(), dx.data());
  ops::conv2d_backward_weights(s, xf.data(), dy1f.data(), dw.data(), nullptr, {});
  EXPECT_EQ(reuses() - before, 0);
}

TEST(Conv2d, BackwardDataHandsNoBlockedGradientWhereDyIsReadInPlace) {
  // Every path but oneDNN's Winograd reads dy as the caller's NHWC buffer: backward-data then
  // returns an empty handle, and backward-weights given it converts nothing and reuses nothing,
  // with the same gradient as without it. One shape per path (which paths run depends on the
  // CPU and the setting; whichever runs here must not reuse).
  const Conv2dShape shapes[] = {
      make(2, 7, 9, 24, 40, 1, 1),                // 1x1
      make(2, 8, 10, 24, 40, 1, 1, 2, 2),         // 1x1/2
      make(1, 13, 11, 64, 80, 3, 3, 1, 1, 1, 1),  // 3x3 below 28x28: F(2x2, 3x3) where fast
      make(2, 14, 14, 256, 32, 3, 3, 2, 2, 1, 1), // 3x3/2 to 7x7: im2col where fast
      make(2, 12, 11, 8, 24, 3, 3, 1, 1, 1, 1),   // 3x3 with few channels: oneDNN direct
      make(1, 32, 32, 3, 16, 7, 7, 2, 2, 3, 3),   // a 7x7/2 stem
  };
  Rng rng(36);
  for (const Conv2dShape& s : shapes) {
    SCOPED_TRACE(name(s));
    const std::vector<float> x = to_float(random_vector(x_size(s), rng));
    const std::vector<float> w = to_float(random_vector(w_size(s), rng, 0.3));
    const std::vector<float> dy = to_float(random_vector(y_size(s), rng));
    std::vector<float> dx(x.size()), dw(w.size()), dw_alone(w.size());
    ops::conv2d_backward_weights(s, x.data(), dy.data(), dw_alone.data(), nullptr);
    const int64_t before = ops::conv2d_cache_stats().blocked_dy_reuses;
    const ops::Conv2dBlockedGradient blocked =
        ops::conv2d_backward_data(s, dy.data(), w.data(), dx.data());
    EXPECT_TRUE(blocked.empty());
    ops::conv2d_backward_weights(s, x.data(), dy.data(), dw.data(), nullptr, blocked);
    EXPECT_EQ(ops::conv2d_cache_stats().blocked_dy_reuses - before, 0);
    EXPECT_TRUE(dw == dw_alone);
  }
}

TEST(Conv2d, Winograd4x4OwnKernelsRunBelow56x56AndMatchTheReference) {
  // 28x30 outputs: F(4x4, 3x3) with hsanet's NHWC transforms in all three directions; no
  // oneDNN Winograd primitive.
  const Conv2dShape s = make(2, 28, 30, 32, 48, 3, 3, 1, 1, 1, 1);
  if (!ops::conv2d_uses_winograd(s)) GTEST_SKIP() << "oneDNN has no Winograd on this CPU (no AVX-512)";
  ops::conv2d_clear_caches();
  // The transforms are Highway kernels: every compiled SIMD target, not only the best.
  for_each_target([&] {
    const auto before = ops::conv2d_cache_stats();
    check_fast_path(s, true, 33, 2e-5);
    check_fast_path(s, false, 34, 2e-5);
    const auto after = ops::conv2d_cache_stats();
    // Per call of check_fast_path: forward training and inference, backward-data and
    // backward-weights (with and without the bias), all on hsanet's kernels.
    EXPECT_EQ(after.winograd4x4_calls - before.winograd4x4_calls, 8);
    EXPECT_EQ(after.winograd_primitives - before.winograd_primitives, 0);
  });
  Rng rng(35);
  const std::vector<double> x = random_vector(x_size(s), rng), w = random_vector(w_size(s), rng, 0.3);
  const double error = forward_error(s, x, w, ops::Conv2dAlgorithm::kFast);
  // Measured here: 1.6e-6 of the output's scale, as oneDNN's own F(4x4, 3x3) on 56x58.
  EXPECT_LT(error, 2e-5);
  std::printf("forward error relative to max |y|: Winograd F(4x4, 3x3), own kernels %.2g\n", error);
}

TEST(Conv2d, Winograd2x2RunsOnTheSmallerLayersAndMatchesTheReference) {
  // 13x11 outputs: odd both ways, so the last row and column of 2x2 blocks overhang the map;
  // 64 -> 80 channels, and a bias. Then ResNet's own 7x7 geometry.
  const Conv2dShape odd = make(2, 13, 11, 64, 80, 3, 3, 1, 1, 1, 1);
  const Conv2dShape stage4 = make(1, 7, 7, 64, 64, 3, 3, 1, 1, 1, 1);
  EXPECT_TRUE(ops::conv2d_uses_winograd2x2(odd));
  EXPECT_TRUE(ops::conv2d_uses_winograd2x2(stage4));
  EXPECT_FALSE(ops::conv2d_uses_winograd2x2(make(2, 14, 14, 32, 64, 3, 3, 1, 1, 1, 1)));  // narrow
  EXPECT_FALSE(ops::conv2d_uses_winograd2x2(make(2, 14, 14, 64, 64, 3, 3, 2, 2, 1, 1)));  // stride 2
  EXPECT_FALSE(ops::conv2d_uses_winograd2x2(make(2, 14, 14, 64, 64, 3, 3, 1, 1, 2, 2, 2, 2)));  // dilated
  EXPECT_FALSE(ops::conv2d_uses_winograd2x2(make(2, 28, 28, 64, 64, 3, 3, 1, 1, 1, 1)) &&
               ops::conv2d_uses_winograd(make(2, 28, 28, 64, 64, 3, 3, 1, 1, 1, 1)));  // one or the other
  // The transforms are Highway kernels: every compiled SIMD target, not only the best.
  for_each_target([&] {
    const int64_t before = ops::conv2d_cache_stats().winograd2x2_calls;
    check_fast_path(odd, true, 41);
    check_fast_path(stage4, false, 42);
    check_fast_path(make(3, 1, 1, 64, 64, 3, 3, 1, 1, 1, 1), false, 44);  // one pixel: one tap
    check_fast_path(make(2, 2, 3, 64, 64, 3, 3, 1, 1, 1, 1), true, 45);
    // Per shape: forward training and inference, backward data, backward weights.
    EXPECT_EQ(ops::conv2d_cache_stats().winograd2x2_calls - before, 16);
  });

  // Its rounding is of the direct algorithm's order (the transforms' coefficients are 0, +-1/2
  // and +-1). Measured here: 3.2e-7 against 1.1e-6 for direct on this shape.
  const auto [winograd, direct] = fast_and_direct_errors(
      odd, [] { return ops::conv2d_cache_stats().winograd2x2_calls; }, 43);
  EXPECT_LT(winograd, 5e-6);
  EXPECT_LT(direct, 5e-6);
  std::printf("forward error relative to max |y|: Winograd F(2x2, 3x3) %.2g, direct %.2g\n",
              winograd, direct);
}

TEST(Conv2d, Im2colRunsOnTheSmallStridedLayersAndMatchesTheReference) {
  // 13x12 input, stride 2: a 7x6 output whose last windows reach into the padding.
  const Conv2dShape s = make(2, 13, 12, 256, 48, 3, 3, 2, 2, 1, 1);
  EXPECT_TRUE(ops::conv2d_uses_im2col(s));
  EXPECT_FALSE(ops::conv2d_uses_im2col(make(2, 28, 28, 256, 256, 3, 3, 2, 2, 1, 1)));  // 14x14 out
  EXPECT_FALSE(ops::conv2d_uses_im2col(make(2, 14, 14, 128, 128, 3, 3, 2, 2, 1, 1)));  // narrow
  EXPECT_FALSE(ops::conv2d_uses_im2col(make(2, 7, 7, 256, 256, 3, 3, 1, 1, 1, 1)));    // stride 1
  // Forward and backward-weights read and write OIHW in place: no weight or gradient reorder
  // (backward-data is the direct kernel's, with its reorder).
  const auto before = ops::conv2d_cache_stats();
  Rng rng(47);
  const std::vector<float> x = to_float(random_vector(x_size(s), rng));
  const std::vector<float> w = to_float(random_vector(w_size(s), rng, 0.3));
  std::vector<float> y(y_size(s)), dw(w.size());
  ops::conv2d_forward(s, x.data(), w.data(), nullptr, y.data(), true, {std::make_shared<int>(0), 0});
  ops::conv2d_backward_weights(s, x.data(), y.data(), dw.data(), nullptr);
  EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, before.weight_reorders);
  EXPECT_EQ(ops::conv2d_cache_stats().gradient_reorders, before.gradient_reorders);
  check_fast_path(s, false, 48);
  check_fast_path(s, true, 49);
  EXPECT_FALSE(ops::conv2d_uses_im2col(s, ops::Conv2dAlgorithm::kDirect));
}

// Each backward transform is the exact adjoint of its forward one: <T a, b> = <a, T^T b> for
// random a and b. Odd map and channel counts exercise the overhanging tiles and the vector tails.
void expect_winograd_adjoints(const ops::winograd::Tiling& tl, uint64_t seed) {
  namespace wg = ops::winograd;
  const int64_t C = 19, O = 21, T = tl.positions(), P = tl.tiles();
  Rng rng(seed);
  auto dot = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i], scale += std::fabs(double(a[i]) * b[i]);
    return std::make_pair(s, scale);
  };
  auto expect_adjoint = [&](const std::vector<float>& Ta, const std::vector<float>& b,
                            const std::vector<float>& a, const std::vector<float>& Ttb, const char* what) {
    const auto [lhs, scale] = dot(Ta, b);
    const double rhs = dot(a, Ttb).first;
    EXPECT_NEAR(lhs, rhs, 1e-6 * scale) << what << ", m = " << tl.m;
  };
  {  // input: x [N, H, W, C] <-> V [T, P, C]
    const std::vector<float> x = to_float(random_vector(tl.N * tl.H * tl.W * C, rng));
    const std::vector<float> r = to_float(random_vector(T * P * C, rng));
    std::vector<float> V(r.size()), dx(x.size(), 7.f);
    wg::input_transform(tl, C, x.data(), V.data());
    wg::input_transform_backward(tl, C, r.data(), dx.data());
    expect_adjoint(V, r, x, dx, "input transform");
  }
  {  // output: M [T, P, O] <-> y [N, H, W, O]
    const std::vector<float> M = to_float(random_vector(T * P * O, rng));
    const std::vector<float> g = to_float(random_vector(tl.N * tl.H * tl.W * O, rng));
    std::vector<float> y(g.size(), 7.f), dM(M.size());
    wg::output_transform(tl, O, M.data(), nullptr, y.data());
    wg::output_transform_backward(tl, O, g.data(), dM.data());
    expect_adjoint(y, g, M, dM, "output transform");
  }
  {  // weights: w [O, C, 3, 3] <-> U [T, O, C]
    const std::vector<float> w = to_float(random_vector(O * C * 9, rng));
    const std::vector<float> r = to_float(random_vector(T * O * C, rng));
    std::vector<float> U(r.size()), dw(w.size(), 7.f);
    wg::weight_transform(tl.m, O, C, w.data(), U.data());
    wg::weight_transform_backward(tl.m, O, C, r.data(), dw.data());
    expect_adjoint(U, r, w, dw, "weight transform");
  }
}

TEST(Conv2d, WinogradBackwardTransformsAreTheAdjoints) {
  for_each_target([] {
    expect_winograd_adjoints({2, 2, 5, 3}, 46);  // F(2x2, 3x3)
    expect_winograd_adjoints({4, 2, 9, 7}, 54);  // F(4x4, 3x3)
  });
}

TEST(Conv2d, WinogradTileSizeIsChecked) {
  std::vector<float> buf(1024);
  EXPECT_THROW(ops::winograd::weight_transform(3, 2, 2, buf.data(), buf.data()), std::invalid_argument);
  EXPECT_THROW(ops::winograd::input_transform({3, 1, 4, 4}, 2, buf.data(), buf.data()), std::invalid_argument);
}

TEST(Conv2d, AlgorithmNamesParse) {
  EXPECT_EQ(ops::parse_conv2d_algorithm("fast"), ops::Conv2dAlgorithm::kFast);
  EXPECT_EQ(ops::parse_conv2d_algorithm("direct"), ops::Conv2dAlgorithm::kDirect);
  try {
    ops::parse_conv2d_algorithm("winograd-ish");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fast or direct"), std::string::npos) << e.what();
  }
}

TEST(Conv2d, OutputSizeFollowsPyTorch) {
  EXPECT_EQ(make(1, 224, 224, 3, 64, 7, 7, 2, 2, 3, 3).OH(), 112);
  EXPECT_EQ(make(1, 56, 56, 64, 64, 3, 3, 2, 2, 1, 1).OH(), 28);
  EXPECT_EQ(make(1, 7, 7, 64, 64, 1, 1, 2, 2).OH(), 4);        // floor((7 - 1) / 2) + 1
  EXPECT_EQ(make(1, 6, 6, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2).OW(), 6);  // dilation 2
}

TEST(Conv2d, PrimitivesAreCreatedOncePerShapeAndDirection) {
  const Conv2dShape s = make(1, 6, 5, 8, 8, 3, 3, 1, 1, 1, 1);
  Rng rng(3);
  std::vector<float> x = to_float(random_vector(x_size(s), rng)), w = to_float(random_vector(w_size(s), rng));
  std::vector<float> y(y_size(s)), dx(x.size()), dw(w.size());
  auto run = [&] {
    ops::conv2d_forward(s, x.data(), w.data(), nullptr, y.data(), true);
    ops::conv2d_backward_data(s, y.data(), w.data(), dx.data());
    ops::conv2d_backward_weights(s, x.data(), y.data(), dw.data(), nullptr);
  };
  run();
  const int64_t created = ops::conv2d_cache_stats().primitives_created;
  for (int i = 0; i < 3; ++i) run();
  EXPECT_EQ(ops::conv2d_cache_stats().primitives_created, created);
}

TEST(Conv2d, WeightsAreReorderedOncePerVersion) {
  const Conv2dShape s = make(2, 6, 6, 16, 32, 3, 3, 1, 1, 1, 1);
  Rng rng(5);
  std::vector<double> x = random_vector(x_size(s), rng), w = random_vector(w_size(s), rng, 0.3);
  std::vector<float> xf = to_float(x), wf = to_float(w), y(y_size(s));
  auto owner = std::make_shared<int>(0);
  ops::conv2d_forward(s, xf.data(), wf.data(), nullptr, y.data(), true, {owner, 1});
  const int64_t after_first = ops::conv2d_cache_stats().weight_reorders;
  for (int i = 0; i < 3; ++i)
    ops::conv2d_forward(s, xf.data(), wf.data(), nullptr, y.data(), true, {owner, 1});
  EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, after_first)
      << "the same weight version must reuse its reordered copy";

  // An update (new values, bumped version) must be seen: compare with the reference again.
  for (auto& v : w) v = -v + 0.25;
  wf = to_float(w);
  ops::conv2d_forward(s, xf.data(), wf.data(), nullptr, y.data(), true, {owner, 2});
  std::vector<double> y_ref(y_size(s));
  ops::ref::conv2d_forward(s, x.data(), w.data(), static_cast<const double*>(nullptr), y_ref.data());
  expect_close(y, y_ref, 1e-4, 1e-4, "forward after a weight update");

  // Once the owner dies its cached copy goes (pruned when the next weight is cached).
  const int64_t held = ops::conv2d_cache_stats().cached_weights;
  EXPECT_GE(held, 1);
  owner.reset();
  auto other = std::make_shared<int>(0);
  ops::conv2d_forward(s, xf.data(), wf.data(), nullptr, y.data(), true, {other, 0});
  EXPECT_EQ(ops::conv2d_cache_stats().cached_weights, held);  // one dropped, one added
}

class Conv2dPointwise : public ::testing::TestWithParam<int64_t> {};

TEST_P(Conv2dPointwise, ReordersNothing) {
  // 1x1 convolutions on small maps run as matmuls over OIHW weights in place (strided ones over
  // the gathered positions): no reorder in any direction.
  const int64_t stride = GetParam();
  const Conv2dShape s = make(2, 7, 6, 32, 64, 1, 1, stride, stride);
  Rng rng(6);
  std::vector<float> x = to_float(random_vector(x_size(s), rng)), w = to_float(random_vector(w_size(s), rng));
  std::vector<float> y(y_size(s)), dx(x.size()), dw(w.size()), db(s.O);
  auto owner = std::make_shared<int>(0);
  const ops::Conv2dCacheStats before = ops::conv2d_cache_stats();
  for (uint64_t version = 0; version < 3; ++version) {
    ops::conv2d_forward(s, x.data(), w.data(), nullptr, y.data(), true, {owner, version});
    ops::conv2d_backward_data(s, y.data(), w.data(), dx.data(), {owner, version});
    ops::conv2d_backward_weights(s, x.data(), y.data(), dw.data(), db.data());
  }
  EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, before.weight_reorders);
  EXPECT_EQ(ops::conv2d_cache_stats().gradient_reorders, before.gradient_reorders);
}
INSTANTIATE_TEST_SUITE_P(Strides, Conv2dPointwise, ::testing::Values(1, 2));

TEST(Conv2d, PointwiseOnLargeMapsUsesTheConvolutionKernels) {
  // From 3136 output positions on (ResNet's 56x56 and 28x28 maps at batch 4) the forward runs on
  // oneDNN's 1x1 convolution kernels, which reorder the weights once per version; from 12544
  // (56x56) the stride-1 backward-weights does too (one gradient reorder per call), below it
  // stays a matmul (none); backward-data stays a matmul and still accumulates.
  const Conv2dShape s = make(1, 56, 56, 24, 40, 1, 1);              // 3136 positions
  const Conv2dShape big = make(4, 56, 56, 16, 24, 1, 1);            // 12544 positions
  const Conv2dShape strided = make(1, 112, 112, 16, 32, 1, 1, 2, 2);  // 3136 after the stride
  check_fast_path(s, false, 50);
  check_fast_path(s, true, 51);
  check_fast_path(strided, false, 52);
  check_fast_path(big, false, 54);
  Rng rng(53);
  auto passes = [&](const Conv2dShape& shape) {  // forward at two versions, one weight gradient
    const std::vector<float> x = to_float(random_vector(x_size(shape), rng));
    const std::vector<float> w = to_float(random_vector(w_size(shape), rng));
    std::vector<float> y(y_size(shape)), dw(w.size());
    auto owner = std::make_shared<int>(0);
    const ops::Conv2dCacheStats before = ops::conv2d_cache_stats();
    for (uint64_t version = 0; version < 2; ++version)
      ops::conv2d_forward(shape, x.data(), w.data(), nullptr, y.data(), true, {owner, version});
    ops::conv2d_backward_weights(shape, x.data(), y.data(), dw.data(), nullptr);
    const ops::Conv2dCacheStats after = ops::conv2d_cache_stats();
    return std::make_pair(after.weight_reorders - before.weight_reorders,
                          after.gradient_reorders - before.gradient_reorders);
  };
  EXPECT_EQ(passes(s), std::make_pair(int64_t{2}, int64_t{0}));
  EXPECT_EQ(passes(big), std::make_pair(int64_t{2}, int64_t{1}));
  EXPECT_TRUE(ops::conv2d_backward_data_accumulates(s));
}

TEST(Conv2d, PointwiseBackwardDataAccumulatesIntoDx) {
  // dx += dL/dx for 1x1 convolutions (a sum post-op on the matmul; a scatter-add when strided),
  // which autograd uses at fan-outs; other shapes refuse.
  for (const Conv2dShape& s : {make(2, 5, 4, 24, 40, 1, 1), make(2, 7, 6, 16, 8, 1, 1, 2, 2),
                               make(1, 7, 5, 3, 4, 1, 1, 3, 2)}) {
    SCOPED_TRACE(name(s));
    ASSERT_TRUE(ops::conv2d_backward_data_accumulates(s));
    Rng rng(41);
    const std::vector<double> w = random_vector(w_size(s), rng), dy = random_vector(y_size(s), rng);
    const std::vector<double> before = random_vector(x_size(s), rng);
    std::vector<double> expected(x_size(s));
    ops::ref::conv2d_backward_data(s, dy.data(), w.data(), expected.data());
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += static_cast<float>(before[i]);
    std::vector<float> dx = to_float(before);
    const std::vector<float> wf = to_float(w), dyf = to_float(dy);
    ops::conv2d_backward_data(s, dyf.data(), wf.data(), dx.data(), {}, /*accumulate=*/true);
    expect_close(dx, expected, 1e-4, 1e-4, "accumulated backward data");
  }
  const Conv2dShape s3 = make(1, 5, 5, 4, 4, 3, 3, 1, 1, 1, 1);
  EXPECT_FALSE(ops::conv2d_backward_data_accumulates(s3));
  std::vector<float> buf(x_size(s3) + y_size(s3) + w_size(s3));
  EXPECT_THROW(ops::conv2d_backward_data(s3, buf.data(), buf.data(), buf.data(), {}, true),
               std::invalid_argument);
}

TEST(Conv2d, BadGeometryThrowsBeforeOneDnn) {
  auto throws = [](const Conv2dShape& s, const std::string& fragment) {
    std::vector<float> buf(1 << 12);
    try {
      ops::conv2d_forward(s, buf.data(), buf.data(), nullptr, buf.data(), true);
      ADD_FAILURE() << "no exception for " << name(s);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
    }
  };
  throws(make(1, 4, 4, 3, 4, 3, 3, 1, 1, 0, 0, 1, 1, 2), "divisible by groups");
  throws(make(1, 4, 4, 4, 3, 3, 3, 1, 1, 0, 0, 1, 1, 2), "divisible by groups");
  throws(make(1, 4, 4, 3, 4, 7, 7), "larger than the padded input");
  throws(make(1, 4, 4, 3, 4, 3, 3, 1, 1, 0, 0, 3, 3), "larger than the padded input");
  throws(make(1, 4, 4, 3, 4, 3, 3, 0, 1), "stride");
  throws(make(1, 4, 4, 3, 4, 3, 3, 1, 1, -1, 0), "padding");
  throws(make(0, 4, 4, 3, 4, 3, 3), "positive");
}

}  // namespace
}  // namespace hsanet
