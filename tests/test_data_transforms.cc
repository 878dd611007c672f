// Transforms: the geometry of each step (a flip is exact, a crop lands where it says, an erased box
// stays inside the image), the resampler's filters, and determinism per seed.
#include <cmath>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "base/random.h"
#include "data/resample.h"
#include "data/transforms.h"
#include "data_fixtures/fixture_writers.h"

namespace hsanet::data {
namespace {

// Every pixel different: red = x, green = y, blue = (x * 7 + y * 3) mod 256.
Image coordinate_image(int w, int h) {
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      p[0] = static_cast<uint8_t>(x);
      p[1] = static_cast<uint8_t>(y);
      p[2] = static_cast<uint8_t>((x * 7 + y * 3) % 256);
    }
  return im;
}

std::vector<float> resample_to(const Image& im, Box box, int w, int h, ResizeFilter f) {
  std::vector<float> out(static_cast<size_t>(w) * h * 3);
  resample(ImageView(im), box, w, h, f, out.data());
  return out;
}

TEST(DataTransforms, ResampleAtScaleOneIsAnExactCrop) {
  const Image im = coordinate_image(40, 30);
  const Rect r{7, 5, 20, 12};
  for (ResizeFilter f : {ResizeFilter::Bilinear, ResizeFilter::Area}) {
    const std::vector<float> out = resample_to(im, {7, 5, 27, 17}, r.width, r.height, f);
    for (int y = 0; y < r.height; ++y)
      for (int x = 0; x < r.width; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(out[(y * r.width + x) * 3 + c], im.at(r.x + x, r.y + y)[c]) << x << "," << y;
  }
}

TEST(DataTransforms, AreaHalvingAveragesTwoByTwoBlocks) {
  const Image im = coordinate_image(16, 12);
  const std::vector<float> out = resample_to(im, {0, 0, 16, 12}, 8, 6, ResizeFilter::Area);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) {
        const float mean = (im.at(2 * x, 2 * y)[c] + im.at(2 * x + 1, 2 * y)[c] + im.at(2 * x, 2 * y + 1)[c] +
                            im.at(2 * x + 1, 2 * y + 1)[c]) / 4.f;
        EXPECT_NEAR(out[(y * 8 + x) * 3 + c], mean, 1e-4f);
      }
}

TEST(DataTransforms, ShrinkingAntialiasesAndConstantsStayConstant) {
  // A one-pixel checkerboard shrunk 4x must come out flat grey, not aliased stripes.
  Image board(64, 64);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) board.at(x, y)[c] = ((x + y) % 2) ? 255 : 0;
  for (ResizeFilter f : {ResizeFilter::Bilinear, ResizeFilter::Area})
    for (float v : resample_to(board, {0, 0, 64, 64}, 16, 16, f)) EXPECT_NEAR(v, 127.5f, 8.f);

  Image flat(10, 7);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  for (ResizeFilter f : {ResizeFilter::Bilinear, ResizeFilter::Area})
    for (float v : resample_to(flat, {0.3, 1.1, 9.2, 6.5}, 23, 31, f)) EXPECT_NEAR(v, 77.f, 1e-3f);
}

TEST(DataTransforms, ResamplingAViewNeverReadsOutsideIt) {
  // Bright outside the window, dark inside: no bright value may leak into the result.
  Image im(30, 30);
  std::fill(im.pixels.begin(), im.pixels.end(), 255);
  for (int y = 10; y < 20; ++y)
    for (int x = 10; x < 20; ++x)
      for (int c = 0; c < 3; ++c) im.at(x, y)[c] = 10;
  const ImageView window = ImageView(im).sub(10, 10, 10, 10);
  for (ResizeFilter f : {ResizeFilter::Bilinear, ResizeFilter::Area})
    for (int size : {3, 10, 37}) {
      std::vector<float> out(static_cast<size_t>(size) * size * 3);
      resample(window, {0, 0, 10, 10}, size, size, f, out.data());
      for (float v : out) ASSERT_NEAR(v, 10.f, 1e-3f);
    }
}

TEST(DataTransforms, HflipIsExact) {
  const Image im = coordinate_image(9, 4);
  std::vector<float> a(im.pixels.begin(), im.pixels.end());
  hflip(a.data(), 9, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 9; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(a[(y * 9 + x) * 3 + c], im.at(8 - x, y)[c]);
  hflip(a.data(), 9, 4);
  EXPECT_EQ(a, std::vector<float>(im.pixels.begin(), im.pixels.end()));
}

TEST(DataTransforms, CenterCropMatchesTheReference) {
  // The reference keeps max(1, round_half_up(side * f)) and offsets by (side - kept) // 2.
  EXPECT_EQ(center_crop_rect(250, 250, 0.6), (Rect{50, 50, 150, 150}));
  EXPECT_EQ(center_crop_rect(92, 112, 0.6), (Rect{18, 22, 55, 67}));
  EXPECT_EQ(center_crop_rect(5, 5, 0.5), (Rect{1, 1, 3, 3}));  // 2.5 rounds up
  EXPECT_EQ(center_crop_rect(92, 112, 1.0), (Rect{0, 0, 92, 112}));
  EXPECT_EQ(center_crop_rect(3, 3, 0.01), (Rect{1, 1, 1, 1}));
}

TEST(DataTransforms, RandomResizedCropStaysInsideAndInRange) {
  Rng rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    // Image aspects inside the ratio range, so that even the fallback (whole image) is in range.
    const int w = 60 + static_cast<int>(rng.below(300));
    const int h = static_cast<int>(w * rng.uniform(0.8f, 1.25f));
    const Rect r = random_resized_crop_rect(w, h, 0.6, 1.0, 3.0 / 4, 4.0 / 3, rng);
    ASSERT_GE(r.x, 0);
    ASSERT_GE(r.y, 0);
    ASSERT_GT(r.width, 0);
    ASSERT_GT(r.height, 0);
    ASSERT_LE(r.x + r.width, w);
    ASSERT_LE(r.y + r.height, h);
    const double area = double(r.width) * r.height / (double(w) * h);
    // Rounding each side to whole pixels moves the area and aspect a little.
    const double slack = 1.0 / std::min(r.width, r.height) * 2.5;
    EXPECT_GE(area, 0.6 * (1 - slack));
    EXPECT_LE(double(r.width) / r.height, 4.0 / 3 * (1 + slack));
    EXPECT_GE(double(r.width) / r.height, 3.0 / 4 * (1 - slack));
  }
}

TEST(DataTransforms, RandomResizedCropFallsBackToACentralCrop) {
  // A 10x100 strip cannot hold a 3/4..4/3 crop of 90% of its area: the fallback trims the long
  // side to the nearest allowed aspect, centrally.
  Rng rng(1);
  const Rect r = random_resized_crop_rect(10, 100, 0.9, 1.0, 3.0 / 4, 4.0 / 3, rng);
  EXPECT_EQ(r, (Rect{0, 43, 10, 13}));  // height round(10 / 0.75) = 13, offset (100 - 13) / 2
}

TEST(DataTransforms, RandomErasingBoxIsStrictlyInsideAndFillsOnlyItself) {
  Rng rng(11);
  int erased = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int w = 8 + static_cast<int>(rng.below(100)), h = 8 + static_cast<int>(rng.below(100));
    auto r = random_erasing_rect(w, h, 0.5, 0.02, 0.2, 0.3, 3.3, rng);
    if (!r) continue;
    ++erased;
    ASSERT_GE(r->x, 0);
    ASSERT_GE(r->y, 0);
    ASSERT_LT(r->width, w);
    ASSERT_LT(r->height, h);
    ASSERT_LE(r->x + r->width, w);
    ASSERT_LE(r->y + r->height, h);
    std::vector<float> img(static_cast<size_t>(w) * h * 3, 1.f);
    fill_rect(img.data(), w, *r, -3.f);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool inside = x >= r->x && x < r->x + r->width && y >= r->y && y < r->y + r->height;
        for (int c = 0; c < 3; ++c) ASSERT_EQ(img[(y * w + x) * 3 + c], inside ? -3.f : 1.f);
      }
  }
  EXPECT_GT(erased, 800);  // p = 0.5
  EXPECT_LT(erased, 1200);
  Rng never(3);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(random_erasing_rect(50, 50, 0.0, 0.02, 0.2, 0.3, 3.3, never));
}

TEST(DataTransforms, NormalizeUsesMeanAndStd) {
  std::vector<float> px = {0.f, 255.f, 127.5f};
  normalize(px.data(), 1, {0.5f, 0.5f, 0.5f}, {0.25f, 0.5f, 1.f});
  EXPECT_NEAR(px[0], -2.f, 1e-6f);
  EXPECT_NEAR(px[1], 1.f, 1e-6f);
  EXPECT_NEAR(px[2], 0.f, 1e-6f);
}

TEST(DataTransforms, EvalGeometryResizesTheShortSideAndCropsTheCentre) {
  // 92x112 with short side -> 224: the source square read is the central 92x92 (rows 10..101).
  const Box b = resize_center_crop_box(92, 112, 224, 224);
  EXPECT_DOUBLE_EQ(b.x0, 0);
  EXPECT_DOUBLE_EQ(b.x1, 92);
  EXPECT_DOUBLE_EQ(b.y0, 10);
  EXPECT_DOUBLE_EQ(b.y1, 102);
  // resize 256 then crop 224: the central 7/8 of a square.
  const Box c = resize_center_crop_box(256, 256, 256, 224);
  EXPECT_DOUBLE_EQ(c.x0, 16);
  EXPECT_DOUBLE_EQ(c.x1, 240);

  // A bright dot at the centre of the central 92x92 lands at the centre of the output.
  Image im(92, 112);
  for (int y = 55; y < 57; ++y)
    for (int x = 45; x < 47; ++x)
      for (int c = 0; c < 3; ++c) im.at(x, y)[c] = 255;
  TransformConfig cfg = eval_transform_config(46);  // 2x shrink of the 92x92 square
  cfg.mean = {0, 0, 0};
  cfg.std = {1, 1, 1};
  Rng rng(0);
  std::vector<float> out(46 * 46 * 3);
  Transform(cfg).apply(im, rng, out.data());
  int best = 0;
  for (int i = 1; i < 46 * 46; ++i)
    if (out[i * 3] > out[best * 3]) best = i;
  EXPECT_NEAR(best / 46, 22.5, 1.0);
  EXPECT_NEAR(best % 46, 22.5, 1.0);
}

TEST(DataTransforms, TrainingCropLandsWhereTheRectangleSays) {
  // Replay the transform's draws: the output must be exactly the resampled random rectangle.
  const Image im = coordinate_image(80, 60);
  TransformConfig cfg = train_transform_config(32);
  cfg.hflip_p = 0;
  cfg.erase_p = 0;
  cfg.mean = {0, 0, 0};
  cfg.std = {1.f / 255, 1.f / 255, 1.f / 255};  // identity normalisation, up to float rounding
  const Transform t(cfg);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng a = Rng::derive(seed, 3, 7), b = a;
    std::vector<float> out(32 * 32 * 3);
    t.apply(im, a, out.data());
    const Rect r = random_resized_crop_rect(80, 60, cfg.scale_min, cfg.scale_max, cfg.ratio_min, cfg.ratio_max, b);
    const std::vector<float> expect =
        resample_to(im, {double(r.x), double(r.y), double(r.x + r.width), double(r.y + r.height)}, 32, 32,
                    ResizeFilter::Bilinear);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], expect[i], 1e-3f);
  }
}

TEST(DataTransforms, CenterCropFractionComesFirst) {
  // With a fraction of 0.5 the evaluation output only sees the central quarter.
  Image im(40, 40);
  std::fill(im.pixels.begin(), im.pixels.end(), 255);
  for (int y = 10; y < 30; ++y)
    for (int x = 10; x < 30; ++x)
      for (int c = 0; c < 3; ++c) im.at(x, y)[c] = 0;
  TransformConfig cfg = eval_transform_config(16, 0.5);
  cfg.mean = {0, 0, 0};
  cfg.std = {1, 1, 1};
  Rng rng(0);
  std::vector<float> out(16 * 16 * 3);
  Transform(cfg).apply(im, rng, out.data());
  for (float v : out) ASSERT_NEAR(v, 0.f, 1e-5f);
}

TEST(DataTransforms, FlipAlwaysGivesTheMirrorOfTheUnflippedOutput) {
  const Image im = coordinate_image(50, 50);
  TransformConfig cfg = train_transform_config(24);
  cfg.random_resized_crop = false;  // evaluation geometry, so only the flip is random
  cfg.erase_p = 0;
  cfg.hflip_p = 1;
  TransformConfig plain = cfg;
  plain.hflip_p = 0;
  Rng a(1), b(1);
  std::vector<float> flipped(24 * 24 * 3), straight(24 * 24 * 3);
  Transform(cfg).apply(im, a, flipped.data());
  Transform(plain).apply(im, b, straight.data());
  hflip(straight.data(), 24, 24);
  EXPECT_EQ(flipped, straight);
}

TEST(DataTransforms, TrainingIsDeterministicPerSeedAndVariesAcrossSeeds) {
  const Image im = testing::pattern_image(48, 40);
  const Transform t(train_transform_config(28));
  auto run = [&](uint64_t seed, uint64_t epoch, uint64_t index) {
    Rng rng = Rng::derive(seed, epoch, index);
    std::vector<float> out(28 * 28 * 3);
    t.apply(im, rng, out.data());
    return out;
  };
  EXPECT_EQ(run(1, 0, 5), run(1, 0, 5));
  EXPECT_NE(run(1, 0, 5), run(1, 1, 5));
  EXPECT_NE(run(1, 0, 5), run(1, 0, 6));
  EXPECT_NE(run(1, 0, 5), run(2, 0, 5));
  // Evaluation ignores the generator.
  const Transform e(eval_transform_config(28));
  Rng r1(1), r2(999);
  std::vector<float> o1(28 * 28 * 3), o2(28 * 28 * 3);
  e.apply(im, r1, o1.data());
  e.apply(im, r2, o2.data());
  EXPECT_EQ(o1, o2);
}

TEST(DataTransforms, ErasingWritesTheFillValueInsideTheImage) {
  const Image im = testing::pattern_image(40, 40);
  TransformConfig cfg = train_transform_config(40);
  cfg.random_resized_crop = false;
  cfg.hflip_p = 0;
  cfg.erase_p = 1;
  cfg.erase_fill = -100.f;  // impossible after normalisation of 0..255
  const Transform t(cfg);
  for (uint64_t s = 0; s < 50; ++s) {
    Rng rng(s);
    std::vector<float> out(40 * 40 * 3);
    t.apply(im, rng, out.data());
    int x0 = 40, y0 = 40, x1 = -1, y1 = -1, count = 0;
    for (int y = 0; y < 40; ++y)
      for (int x = 0; x < 40; ++x)
        if (out[(y * 40 + x) * 3] == -100.f) {
          x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
          ++count;
        }
    if (count == 0) continue;  // all 10 draws missed (rare)
    EXPECT_EQ(count, (x1 - x0 + 1) * (y1 - y0 + 1));  // one solid rectangle
    EXPECT_LT(x1 - x0 + 1, 40);
    EXPECT_LT(y1 - y0 + 1, 40);
    EXPECT_GE(count, 0.02 * 1600 * 0.5);
  }
}

TEST(DataTransforms, BadConfigurationsAreRefused) {
  TransformConfig c = train_transform_config(0);
  EXPECT_THROW(Transform{c}, std::invalid_argument);
  c = train_transform_config(32, 0.0);
  EXPECT_THROW(Transform{c}, std::invalid_argument);
  c = train_transform_config(32);
  c.scale_min = 0.9;
  c.scale_max = 0.5;
  EXPECT_THROW(Transform{c}, std::invalid_argument);
  c = eval_transform_config(32);
  c.resize_short = 16;
  EXPECT_THROW(Transform{c}, std::invalid_argument);
}

}  // namespace
}  // namespace hsanet::data
