// Colour jitter (data/color_jitter.h): each adjustment against a hand computation on a 2x2
// picture, factor 1 the identity, values kept in 0..255, saturation a no-op on grey, factors in
// their ranges, and through the training transform: geometry unchanged, range kept, same seed
// same output, and no draw at all when it is off.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "data/color_jitter.h"
#include "data/transforms.h"
#include "data_fixtures/fixture_writers.h"

namespace hsanet::data {
namespace {

// [4 pixels, 3]: red, a dark grey-blue, white, black.
std::vector<float> picture() { return {200, 10, 20, 30, 40, 90, 255, 255, 255, 0, 0, 0}; }

double grey(const float* p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }
float clamp255(double v) { return static_cast<float>(std::clamp(v, 0.0, 255.0)); }

TEST(DataColorJitter, BrightnessScalesAndClamps) {
  const std::vector<float> x = picture();
  std::vector<float> y = x;
  adjust_brightness(y.data(), 4, 1.5);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], clamp255(1.5 * x[i])) << i;
  EXPECT_FLOAT_EQ(y[0], 255.f);  // 300 clamped
  EXPECT_FLOAT_EQ(y[1], 15.f);
}

TEST(DataColorJitter, ContrastBlendsWithTheMeanGreyLevel) {
  const std::vector<float> x = picture();
  double mean = 0;
  for (int p = 0; p < 4; ++p) mean += grey(&x[p * 3]) / 4;
  // By hand: grey levels 59.8 + 5.87 + 2.28 = 67.95; 8.97 + 23.48 + 10.26 = 42.71; 255; 0.
  EXPECT_NEAR(mean, (67.95 + 42.71 + 255.0) / 4, 1e-9);
  for (double f : {0.5, 1.8}) {
    std::vector<float> y = x;
    adjust_contrast(y.data(), 4, f);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], clamp255(f * x[i] + (1 - f) * mean)) << f << " " << i;
  }
}

TEST(DataColorJitter, SaturationBlendsEachPixelWithItsGreyAndLeavesGreyAlone) {
  const std::vector<float> x = picture();
  std::vector<float> y = x;
  adjust_saturation(y.data(), 4, 0.0);  // factor 0: each pixel becomes its grey level
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(y[p * 3 + c], grey(&x[p * 3]), 1e-4);
  EXPECT_NEAR(y[0], 67.95f, 1e-4);
  y = x;
  adjust_saturation(y.data(), 4, 2.0);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], clamp255(2 * x[i] - grey(&x[i / 3 * 3]))) << i;
  // A grey picture (what the loader makes of a grey file: one value in all three channels).
  std::vector<float> g{0, 0, 0, 37.25f, 37.25f, 37.25f, 128, 128, 128, 255, 255, 255};
  std::vector<float> gy = g;
  for (double f : {0.0, 0.3, 1.7}) {
    adjust_saturation(gy.data(), 4, f);
    EXPECT_EQ(gy, g) << f;
  }
}

TEST(DataColorJitter, FactorOneIsTheIdentityAndValuesStayInRange) {
  const std::vector<float> x = picture();
  std::vector<float> y = x;
  adjust_brightness(y.data(), 4, 1.0);
  adjust_contrast(y.data(), 4, 1.0);
  adjust_saturation(y.data(), 4, 1.0);
  EXPECT_EQ(y, x);
  ColorJitterDraw d;  // all factors 1
  color_jitter(y.data(), 4, d);
  EXPECT_EQ(y, x);
  Rng rng(4);
  const ColorJitterConfig c{0.9, 0.9, 0.9};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> z(30 * 3);
    for (float& v : z) v = 255.f * rng.uniform();
    color_jitter(z.data(), 30, draw_color_jitter(c, rng));
    for (float v : z) ASSERT_TRUE(v >= 0.f && v <= 255.f) << v;
  }
}

TEST(DataColorJitter, DrawsFactorsInRangeInARandomOrder) {
  Rng rng(6);
  const ColorJitterConfig c{0.2, 1.5, 0.0};  // contrast's range clips at 0; saturation off
  int first_is_brightness = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const ColorJitterDraw d = draw_color_jitter(c, rng);
    EXPECT_GE(d.factor[0], 0.8);
    EXPECT_LT(d.factor[0], 1.2);
    EXPECT_GE(d.factor[1], 0.0);
    EXPECT_LT(d.factor[1], 2.5);
    EXPECT_EQ(d.factor[2], 1.0);
    std::array<ColorOp, 3> sorted = d.order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::array<ColorOp, 3>{ColorOp::Brightness, ColorOp::Contrast, ColorOp::Saturation}));
    first_is_brightness += d.order[0] == ColorOp::Brightness;
  }
  EXPECT_NEAR(first_is_brightness / 3000.0, 1.0 / 3, 0.04);
  // Unclamped, the three blends commute; clamping makes the order matter: brightness 1.4 first
  // clamps white and the red 200 at 255 before contrast takes the mean.
  std::vector<float> a = picture(), b = picture();
  ColorJitterDraw bc;
  bc.factor = {1.4, 0.5, 1.0};
  ColorJitterDraw cb = bc;
  cb.order = {ColorOp::Contrast, ColorOp::Brightness, ColorOp::Saturation};
  color_jitter(a.data(), 4, bc);
  color_jitter(b.data(), 4, cb);
  EXPECT_NE(a, b);
}

TEST(DataColorJitter, TrainingTransformKeepsGeometryAndRangeAndIsSeeded) {
  const Image im = testing::pattern_image(40, 32);
  TransformConfig with = train_transform_config(16);
  with.erase_p = 0;  // erasing writes the mean colour: keep the range check about jitter
  with.color_jitter = {0.4, 0.4, 0.4};
  TransformConfig without = with;
  without.color_jitter = {};
  const Transform tw(with), to(without);
  EXPECT_EQ(tw.out_width(), 16);
  EXPECT_EQ(tw.out_height(), 16);
  std::vector<float> a(16 * 16 * 3), b(a.size()), c(a.size());
  bool changed = false;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng r1(seed), r2(seed), r3(seed);
    tw.apply(im, r1, a.data());
    tw.apply(im, r2, b.data());
    EXPECT_EQ(a, b) << "same seed, same output";
    to.apply(im, r3, c.data());
    changed |= a != c;
    for (size_t i = 0; i < a.size(); ++i) {
      const int ch = static_cast<int>(i % 3);
      const float lo = -with.mean[ch] / with.std[ch], hi = (1 - with.mean[ch]) / with.std[ch];
      ASSERT_GE(a[i], lo - 1e-5f);
      ASSERT_LE(a[i], hi + 1e-5f);
    }
  }
  EXPECT_TRUE(changed);
  // Off, it draws nothing: a transform with all strengths 0 equals the one without.
  TransformConfig zero = with;
  zero.color_jitter = {0, 0, 0};
  Rng r1(3), r2(3);
  Transform(zero).apply(im, r1, a.data());
  to.apply(im, r2, c.data());
  EXPECT_EQ(a, c);
  TransformConfig bad = with;
  bad.color_jitter.contrast = -0.1;
  EXPECT_THROW(Transform{bad}, std::invalid_argument);
}

}  // namespace
}  // namespace hsanet::data
