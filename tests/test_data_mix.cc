// Mixup and cutmix (data/mix.h): Beta draws with the right moments, timm's box geometry and its
// lambda correction, the pixel arithmetic of both modes against a hand computation, soft targets
// composed with label smoothing, the dominant label, and a loader that mixes reproducibly.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "data/loader.h"
#include "data/mix.h"
#include "data_fixtures/fixture_writers.h"
#include "loader_epoch.h"

namespace hsanet::data {
namespace {

TEST(DataMix, BetaDrawsHaveTheRightMeanAndVariance) {
  // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)). 20000 draws: the standard error of the
  // mean is under 0.004, of the variance well under 0.005.
  for (double a : {0.2, 1.0, 4.0}) {
    Rng rng(7);
    const int n = 20000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = sample_beta(a, a, rng);
      ASSERT_TRUE(x >= 0 && x <= 1) << x;
      sum += x;
      sum2 += x * x;
    }
    const double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.015) << "alpha " << a;
    EXPECT_NEAR(var, 1.0 / (4 * (2 * a + 1)), 0.01) << "alpha " << a;
  }
  // Asymmetric: Beta(2, 6) has mean 0.25.
  Rng rng(8);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) sum += sample_beta(2, 6, rng);
  EXPECT_NEAR(sum / 20000, 0.25, 0.01);
  // A tiny alpha piles the draws at 0 and 1 yet never gives NaN.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(std::isfinite(sample_beta(0.01, 0.01, rng)));
}

TEST(DataMix, CutmixBoxIsTimmsClippedBoxAndLambdaIsItsKeptShare) {
  Rng rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    const double lam = rng.uniform_double();
    const int W = 17, H = 12;
    const Rect r = cutmix_box(W, H, lam, rng);
    ASSERT_GE(r.x, 0);
    ASSERT_GE(r.y, 0);
    ASSERT_LE(r.x + r.width, W);
    ASSERT_LE(r.y + r.height, H);
    // Unclipped, the sides are 2 * (int(side * sqrt(1 - lam)) / 2): never larger.
    EXPECT_LE(r.width, 2 * (static_cast<int>(W * std::sqrt(1 - lam)) / 2));
    EXPECT_LE(r.height, 2 * (static_cast<int>(H * std::sqrt(1 - lam)) / 2));
  }
  // draw_mix corrects lambda to the box actually pasted.
  MixConfig c;
  c.cutmix_alpha = 1.0;
  for (int trial = 0; trial < 200; ++trial) {
    const MixDraw d = draw_mix(c, 16, 16, rng);
    ASSERT_EQ(d.mode, MixMode::Cutmix);
    EXPECT_DOUBLE_EQ(d.lambda, 1.0 - d.box.width * d.box.height / 256.0);
  }
}

TEST(DataMix, ProbabilitiesChooseTheMode) {
  MixConfig c;
  c.mixup_alpha = 0.4;
  c.cutmix_alpha = 1.0;
  c.switch_prob = 0.25;
  c.prob = 0.6;
  Rng rng(5);
  int none = 0, mixup = 0, cutmix = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const MixDraw d = draw_mix(c, 8, 8, rng);
    (d.mode == MixMode::None ? none : d.mode == MixMode::Mixup ? mixup : cutmix)++;
    if (d.mode == MixMode::None) {
      EXPECT_EQ(d.lambda, 1.0);
    }
  }
  EXPECT_NEAR(none / double(n), 0.4, 0.015);
  EXPECT_NEAR(cutmix / double(n), 0.6 * 0.25, 0.015);
  EXPECT_NEAR(mixup / double(n), 0.6 * 0.75, 0.015);
  // Only one on: that one, every time; neither on: nothing, and no draw consumed.
  c.mixup_alpha = 0;
  c.prob = 1;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(draw_mix(c, 8, 8, rng).mode, MixMode::Cutmix);
  c.cutmix_alpha = 0;
  Rng a(1), b(1);
  EXPECT_EQ(draw_mix(c, 8, 8, a).mode, MixMode::None);
  EXPECT_EQ(a.next_u64(), b.next_u64());
}

// images [B, 2, 3, 1]: image i's pixel p is 10 i + p.
std::vector<float> small_batch(int B) {
  std::vector<float> x(static_cast<size_t>(B) * 6);
  for (int i = 0; i < B; ++i)
    for (int p = 0; p < 6; ++p) x[i * 6 + p] = static_cast<float>(10 * i + p);
  return x;
}

TEST(DataMix, MixupBlendsEachImageWithTheFlippedBatch) {
  const int B = 3;
  std::vector<float> x = small_batch(B);
  MixDraw d;
  d.mode = MixMode::Mixup;
  d.lambda = 0.75;
  apply_mix(x.data(), B, 2, 3, 1, d);
  // Image 0 with image 2 and back; image 1 (the middle) is its own partner.
  for (int p = 0; p < 6; ++p) {
    EXPECT_FLOAT_EQ(x[0 * 6 + p], 0.75f * p + 0.25f * (20 + p));
    EXPECT_FLOAT_EQ(x[2 * 6 + p], 0.75f * (20 + p) + 0.25f * p);
    EXPECT_FLOAT_EQ(x[1 * 6 + p], 10.f + p);
  }
}

TEST(DataMix, CutmixPastesThePartnersBoxOnly) {
  const int B = 4;
  std::vector<float> x = small_batch(B);
  MixDraw d;
  d.mode = MixMode::Cutmix;
  d.box = {1, 0, 2, 1};  // x 1..2 of row 0: pixels 1 and 2
  d.lambda = 1.0 - 2.0 / 6.0;
  apply_mix(x.data(), B, 2, 3, 1, d);
  for (int i = 0; i < B; ++i)
    for (int p = 0; p < 6; ++p) {
      const bool inside = p == 1 || p == 2;
      EXPECT_EQ(x[i * 6 + p], static_cast<float>(10 * (inside ? B - 1 - i : i) + p)) << "image " << i << " pixel " << p;
    }
}

TEST(DataMix, TargetsAreLambdaWeightedSmoothedOneHots) {
  const std::vector<int> labels{0, 2, 1}, partner = flipped_labels(labels);
  EXPECT_EQ(partner, (std::vector<int>{1, 2, 0}));
  const int K = 4;
  const double lam = 0.7, s = 0.2;
  const std::vector<float> t = mixed_targets(labels, partner, lam, K, s);
  ASSERT_EQ(t.size(), 12u);
  // timm: off = s / K = 0.05, on = 1 - s + off = 0.85.
  const float row0[4] = {0.7f * 0.85f + 0.3f * 0.05f, 0.7f * 0.05f + 0.3f * 0.85f, 0.05f, 0.05f};
  const float row1[4] = {0.05f, 0.05f, 0.85f, 0.05f};  // partner has the same label
  for (int k = 0; k < K; ++k) {
    EXPECT_NEAR(t[k], row0[k], 1e-6);
    EXPECT_NEAR(t[4 + k], row1[k], 1e-6);
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(std::accumulate(t.begin() + i * K, t.begin() + (i + 1) * K, 0.0), 1.0, 1e-6);
  // Unmixed (lambda 1) without smoothing: exactly the one-hot.
  const std::vector<float> plain = mixed_targets(labels, partner, 1.0, K, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < K; ++k) EXPECT_EQ(plain[i * K + k], k == labels[i] ? 1.f : 0.f);
  EXPECT_THROW(mixed_targets(labels, {0}, lam, K, s), std::invalid_argument);
  EXPECT_THROW(mixed_targets({5}, {0}, lam, K, s), std::invalid_argument);
}

TEST(DataMix, TheDominantLabelIsTheOneWithTheLargerWeight) {
  const std::vector<int> labels{3, 1}, partner{1, 3};
  EXPECT_EQ(dominant_labels(labels, partner, 0.8), labels);
  EXPECT_EQ(dominant_labels(labels, partner, 0.5), labels);
  EXPECT_EQ(dominant_labels(labels, partner, 0.2), partner);
}

// 12 images in 2 classes.
struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<ImageFolder> folder;
  Fixture() {
    for (int k = 0; k < 12; ++k) {
      Image im = testing::pattern_image(20 + k % 3, 18 + k % 4);
      im.pixels[0] = static_cast<uint8_t>(k * 20);
      dir.write("class" + std::to_string(k % 2) + "/img" + std::to_string(k) + ".png", testing::make_png_rgb(im));
    }
    folder = std::make_unique<ImageFolder>(dir.path());
  }
  std::vector<int> all() const {
    std::vector<int> v(folder->size());
    std::iota(v.begin(), v.end(), 0);
    return v;
  }
};

using testing::run_epoch;

TEST(DataMix, TheLoaderMixesReproduciblyFromTheSeedEpochAndBatch) {
  Fixture fx;
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 11;
  o.mixup_alpha = 0.4;
  o.cutmix_alpha = 1.0;
  const Transform t(train_transform_config(10));
  LoaderOptions plain_o = o;
  plain_o.mixup_alpha = plain_o.cutmix_alpha = 0;
  DataLoader loader(*fx.folder, fx.all(), t, o), plain(*fx.folder, fx.all(), t, plain_o);
  const std::vector<Batch> mixed = run_epoch(loader, 3), unmixed = run_epoch(plain, 3);
  ASSERT_EQ(mixed.size(), unmixed.size());
  for (size_t k = 0; k < mixed.size(); ++k) {
    const Batch &m = mixed[k], &u = unmixed[k];
    ASSERT_EQ(m.indices, u.indices);  // mixing never changes the order
    EXPECT_TRUE(u.mix_labels.empty());
    EXPECT_EQ(m.mix_labels, flipped_labels(m.labels));
    // The mixed batch is the unmixed one with batch k's draw applied.
    Rng rng = mix_rng(11, 3, static_cast<int64_t>(k));
    const MixDraw d = draw_mix(o.mix(), 10, 10, rng);
    EXPECT_EQ(m.mix_lambda, d.lambda);
    std::vector<float> expect = u.images.to_vector();
    apply_mix(expect.data(), 4, 10, 10, 3, d);
    EXPECT_EQ(m.images.to_vector(), expect) << "batch " << k;
  }
  // The same seed again, with other workers: the same batches. Another epoch: other draws.
  o.workers = 2;
  DataLoader again(*fx.folder, fx.all(), t, o);
  const std::vector<Batch> repeat = run_epoch(again, 3), other = run_epoch(again, 4);
  bool differs = false;
  for (size_t k = 0; k < mixed.size(); ++k) {
    EXPECT_EQ(repeat[k].images.to_vector(), mixed[k].images.to_vector());
    EXPECT_EQ(repeat[k].mix_lambda, mixed[k].mix_lambda);
    differs |= other[k].mix_lambda != mixed[k].mix_lambda;
  }
  EXPECT_TRUE(differs);
}

TEST(DataMix, BadMixOptionsAreRefused) {
  Fixture fx;
  LoaderOptions o;
  o.mixup_alpha = -1;
  EXPECT_THROW(DataLoader(*fx.folder, fx.all(), Transform(train_transform_config(10)), o), std::invalid_argument);
  o.mixup_alpha = 0.2;
  o.mix_prob = 1.5;
  EXPECT_THROW(DataLoader(*fx.folder, fx.all(), Transform(train_transform_config(10)), o), std::invalid_argument);
  Rng rng(1);
  EXPECT_THROW(sample_beta(0, 1, rng), std::invalid_argument);
}

}  // namespace
}  // namespace hsanet::data
