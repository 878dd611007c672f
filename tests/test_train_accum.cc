// --accum-steps: one optimiser step over K batches of B images equals one step over a batch of
// K x B (a model without batch norm, whose batch statistics would differ), a trailing partial
// group is stepped, and the schedule and the step count follow the optimiser steps.
#include <gtest/gtest.h>

#include <sstream>

#include "apps/train/epoch_loop.h"
#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "base/random.h"
#include "data/image_folder.h"
#include "nn/linear.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;

// Flattened pixels into one linear layer: every image's gradient is independent of the others.
class FlatLinear : public nn::Module {
 public:
  FlatLinear(int64_t pixels, int classes, Rng&& init = Rng(3))
      : fc_(register_module("fc", std::make_shared<nn::Linear>(pixels, classes, init))) {}
  Tensor forward(const Tensor& x) override {  // x: [B, H, W, 3] -> [B, classes]
    return (*fc_)(reshape(x, {x.size(0), x.numel() / x.size(0)}));
  }

 private:
  std::shared_ptr<nn::Linear> fc_;
};

struct Trained {
  std::vector<std::vector<float>> params;  // each parameter's values after the epoch
  EpochResult result;
  long long global_step = 0;
};

// One epoch over the first `batches` batches of `batch` images, accumulating over `accum`.
Trained train(const std::string& faces, int batch, int batches, int accum, double clip = 0) {
  constexpr int kSide = 32;
  data::ImageFolder dataset(faces);
  std::vector<int> all(dataset.size());
  for (int i = 0; i < dataset.size(); ++i) all[i] = i;
  TrainConfig cfg;
  cfg.img_size = kSide;
  cfg.batch_size = batch;
  cfg.limit_batches = batches;
  cfg.accum_steps = accum;
  cfg.clip_grad = clip;
  cfg.sched = "constant";
  cfg.lr = 0.1;
  cfg.warmup_steps = 3;  // counts optimiser steps: the lr of each step is checked below
  data::DataLoader loader(dataset, all, data::Transform(cfg.eval_transform()),
                          {.batch_size = batch, .shuffle = false, .drop_last = false, .seed = 1, .workers = 0});
  FlatLinear model(kSide * kSide * 3, dataset.num_classes());
  nn::SGD opt(model.named_parameters(), {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-3f});
  const nn::LrSchedule schedule(cfg.schedule(), 1);
  std::ostringstream console;
  ProgressLine progress(console, false, 1000);
  RunLog log(console);
  EpochContext ctx{model, opt, schedule, loader, cfg, progress, log};
  Trained t;
  t.result = train_one_epoch(ctx, 0, t.global_step);
  for (const Tensor& p : model.parameters()) t.params.push_back(p.to_vector());
  return t;
}

void expect_close(const Trained& a, const Trained& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t p = 0; p < a.params.size(); ++p) {
    ASSERT_EQ(a.params[p].size(), b.params[p].size());
    // Float tolerance: the two sum the same products in another order (atol + rtol |b|).
    double worst = 0;
    for (size_t i = 0; i < a.params[p].size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(a.params[p][i]) - b.params[p][i]) -
                                  1e-4 * std::abs(static_cast<double>(b.params[p][i])));
    EXPECT_LT(worst, 1e-7) << "parameter " << p;
  }
}

TEST(Accumulation, KBatchesOfBEqualOneBatchOfKB) {
  TempDir tmp;
  const std::string faces = testing::copy_faces(tmp / "faces", 3);  // 30 images
  const Trained big = train(faces, 12, 1, 1), accum = train(faces, 4, 3, 3);
  EXPECT_EQ(big.result.steps, 1);
  EXPECT_EQ(accum.result.steps, 1);
  EXPECT_EQ(accum.result.batches, 3);
  EXPECT_EQ(accum.global_step, 1);
  EXPECT_NEAR(accum.result.loss, big.result.loss, 1e-5);
  expect_close(accum, big);
  // The accumulated gradient is what is clipped: its norm is the big batch's.
  const Trained big_clip = train(faces, 12, 1, 1, 0.05), accum_clip = train(faces, 4, 3, 3, 0.05);
  EXPECT_NEAR(accum_clip.result.grad_norm, big_clip.result.grad_norm, 1e-4 * big_clip.result.grad_norm);
  expect_close(accum_clip, big_clip);
  // Without accumulation the same three batches are three steps, which lands elsewhere.
  const Trained three = train(faces, 4, 3, 1);
  EXPECT_EQ(three.result.steps, 3);
  EXPECT_GT(std::abs(three.params[0][0] - big.params[0][0]) + std::abs(three.params[1][0] - big.params[1][0]), 1e-6);
}

// The same epoch written out by hand: groups of batch counts, each batch's loss over its group's
// size, one SGD step per group at the warm-up's lr for that step.
Trained by_hand(const std::string& faces, int batch, const std::vector<int>& groups) {
  constexpr int kSide = 32;
  data::ImageFolder dataset(faces);
  std::vector<int> all(dataset.size());
  for (int i = 0; i < dataset.size(); ++i) all[i] = i;
  TrainConfig cfg;
  cfg.img_size = kSide;
  data::DataLoader loader(dataset, all, data::Transform(cfg.eval_transform()),
                          {.batch_size = batch, .shuffle = false, .drop_last = false, .seed = 1, .workers = 0});
  FlatLinear model(kSide * kSide * 3, dataset.num_classes());
  nn::SGD opt(model.named_parameters(), {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-3f});
  loader.start_epoch(0);
  data::Batch b;
  Trained t;
  for (int g : groups) {
    opt.set_lr(0.1f * std::min<long long>(t.global_step + 1, 3) / 3);  // warm-up over 3 steps
    opt.zero_grad();
    for (int i = 0; i < g; ++i) {
      EXPECT_TRUE(loader.next(b));
      std::vector<int32_t> labels(b.labels.begin(), b.labels.end());
      scale(cross_entropy(model(b.images), labels), 1.0f / g).backward();
    }
    opt.step();
    ++t.global_step;
  }
  for (const Tensor& p : model.parameters()) t.params.push_back(p.to_vector());
  return t;
}

TEST(Accumulation, ATrailingPartialGroupIsSteppedAndTheScheduleCountsSteps) {
  TempDir tmp;
  const std::string faces = testing::copy_faces(tmp / "faces", 3);
  // Five batches of 4 in groups of 2: steps over batches {1,2}, {3,4} and {5} alone, the last
  // one's loss not halved (timm's train.py steps a partial group, scaled by its own size).
  const Trained five = train(faces, 4, 5, 2);
  EXPECT_EQ(five.result.batches, 5);
  EXPECT_EQ(five.result.steps, 3);
  EXPECT_EQ(five.global_step, 3);
  expect_close(five, by_hand(faces, 4, {2, 2, 1}));
  // The warm-up counts optimiser steps: the second and last of two steps runs at 2/3 of the lr
  // (counting batches, it would be the fourth and run at the full lr).
  const Trained two = train(faces, 4, 4, 2);
  EXPECT_EQ(two.global_step, 2);
  EXPECT_FLOAT_EQ(static_cast<float>(two.result.lr), 0.1f * 2 / 3);
  expect_close(two, by_hand(faces, 4, {2, 2}));
}

}  // namespace
}  // namespace hsanet::train
