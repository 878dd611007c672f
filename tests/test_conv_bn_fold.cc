// Batch norm folded into its convolution for bf16 inference (nn/conv_bn_fold.h): the folded
// weight and bias are batch norm's arithmetic, they follow every change of their sources, and a
// model whose blocks fold computes what the unfolded model computes, within bf16's rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/functions_vision.h"
#include "autograd/node.h"
#include "base/random.h"
#include "models/resnet.h"
#include "nn/conv_bn_fold.h"
#include "ops/precision.h"

namespace hsanet {
namespace {

// Gives a batch norm statistics and an affine transform far from the identity.
void randomise(nn::BatchNorm2d& bn, Rng& rng) {
  const int64_t C = bn.weight.numel();
  bn.weight.copy_from(Tensor::uniform({C}, rng, 0.5f, 1.5f));
  bn.bias.copy_from(Tensor::uniform({C}, rng, -0.5f, 0.5f));
  bn.running_mean.copy_from(Tensor::uniform({C}, rng, -0.3f, 0.3f));
  bn.running_var.copy_from(Tensor::uniform({C}, rng, 0.2f, 2.0f));
  for (Tensor* t : {&bn.weight, &bn.bias, &bn.running_mean, &bn.running_var}) t->bump_version();
}

TEST(ConvBnFold, FoldedWeightsAreTheBatchNormOfTheConvolution) {
  // In float32: conv(x, w') + b' against batch_norm2d(conv(x, w) + b) in evaluation mode.
  Rng rng(5);
  nn::Conv2d conv(8, 16, 3, rng, nn::Conv2dOptions{.stride = 1, .padding = 1, .bias = true});
  conv.bias.copy_from(Tensor::uniform({16}, rng, -0.2f, 0.2f));
  nn::BatchNorm2d bn(16);
  randomise(bn, rng);
  const Tensor x = Tensor::randn({2, 5, 5, 8}, rng);  // [N, H, W, C]
  NoGradGuard no_grad;
  nn::ConvBnFold fold;
  fold(conv, bn, x);  // makes the folded tensors (its bf16 output is checked below)
  const Tensor want = batch_norm2d(conv2d(x, conv.weight, conv.bias, 1, 1), bn.weight, bn.bias,
                                   bn.running_mean, bn.running_var, false, 0.1f, bn.eps);
  const Tensor got = conv2d(x, fold.weight(), fold.bias(), 1, 1, 1, 1, ops::Precision::kF32,
                            false, ops::Conv2dAlgorithm::kDirect);
  const std::vector<float> a = got.to_vector(), b = want.to_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << i;
}

TEST(ConvBnFold, FollowsEveryChangeOfItsSources) {
  Rng rng(6);
  nn::Conv2d conv(4, 4, 1, rng);
  nn::BatchNorm2d bn(4);
  const Tensor x = Tensor::randn({1, 2, 2, 4}, rng);
  NoGradGuard no_grad;
  nn::ConvBnFold fold;
  fold(conv, bn, x);
  const TensorImpl* first = fold.weight().impl();
  fold(conv, bn, x);
  EXPECT_EQ(fold.weight().impl(), first) << "unchanged sources must not be folded again";
  const float b0 = fold.bias().to_vector()[0];
  bn.running_mean.fill(0.5f);  // an in-place change announces itself by its version
  bn.running_mean.bump_version();
  fold(conv, bn, x);
  EXPECT_NE(fold.weight().impl(), first);
  EXPECT_NEAR(fold.bias().to_vector()[0], b0 - 0.5f / std::sqrt(1 + bn.eps), 1e-6f);
  const TensorImpl* second = fold.weight().impl();
  conv.weight.fill(2.0f);
  conv.weight.bump_version();
  fold(conv, bn, x);
  EXPECT_NE(fold.weight().impl(), second);
  EXPECT_NEAR(fold.weight().to_vector()[0], 2.0f / std::sqrt(1 + bn.eps), 1e-6f);
}

TEST(ConvBnFold, OnlyInEvaluationWithoutGradientsInBf16) {
  Rng rng(4);
  nn::Conv2d conv(4, 4, 1, rng);
  nn::BatchNorm2d bn(4);
  conv.opt.precision = ops::Precision::kBF16;
  conv.eval();
  EXPECT_FALSE(nn::can_fold_batch_norm(conv, conv, bn)) << "gradients are being recorded";
  NoGradGuard no_grad;
  EXPECT_TRUE(nn::can_fold_batch_norm(conv, conv, bn));
  bn.output_hook = [](const Tensor& y) { return y; };
  EXPECT_FALSE(nn::can_fold_batch_norm(conv, conv, bn)) << "the hook would not be called";
  bn.output_hook = nullptr;
  conv.opt.precision = ops::Precision::kF32;
  EXPECT_FALSE(nn::can_fold_batch_norm(conv, conv, bn)) << "float32 inference keeps batch norm";
  conv.opt.precision = ops::Precision::kBF16;
  conv.train();
  EXPECT_FALSE(nn::can_fold_batch_norm(conv, conv, bn)) << "training uses batch statistics";
}

// The tiny networks of the model contract with every batch norm's statistics randomised.
std::shared_ptr<models::ResNet> tiny(const std::string& name, ops::Precision p) {
  models::ModelConfig c;
  c.name = name;
  c.height = c.width = 64;
  c.width_mult = 0.25;
  c.blocks = {2, 1, 2, 2};  // downsampling and identity blocks, with and without attention
  c.num_classes = 10;
  c.precision = p;
  auto model = models::build_model(c, /*seed=*/7);
  Rng rng(7);
  nn::for_each_module(*model, [&rng](nn::Module& m) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) randomise(*bn, rng);
  });
  model->eval();
  return model;
}

class FoldedModel : public ::testing::TestWithParam<const char*> {};

TEST_P(FoldedModel, ComputesTheUnfoldedLogitsWithinBf16Rounding) {
  auto model = tiny(GetParam(), ops::Precision::kBF16);
  Rng rng(8);
  const Tensor x = Tensor::randn({2, 64, 64, 3}, rng);  // [N, H, W, 3]
  // Unfolded: the same evaluation with gradients recorded (the folded path needs none).
  const std::vector<float> unfolded = (*model)(x).to_vector();
  std::vector<float> folded;
  {
    NoGradGuard no_grad;
    // The blocks fold: a bottleneck's output is bf16 only then.
    Tensor h = (*model->maxpool)(model->bn1->forward_relu((*model->conv1)(x), *model->relu));
    EXPECT_TRUE((*model->layer1)(h).is_bf16());
    folded = (*model)(x).to_vector();
  }
  // Each of the ~20 layers rounds its output to bf16 (2^-9 relative) in both versions, in
  // different places (folded: the scaled weights and the block's sum; unfolded: the convolution
  // before its batch norm), so the logits agree to a few percent of their size, not bit for bit;
  // a fold that got the scale, the shift or the residual wrong is off by their size.
  float size = 0;
  for (float v : unfolded) size = std::max(size, std::fabs(v));
  ASSERT_GT(size, 0.1f);
  for (size_t i = 0; i < folded.size(); ++i)
    EXPECT_NEAR(folded[i], unfolded[i], 0.05f * size) << "logit " << i;
}

INSTANTIATE_TEST_SUITE_P(Models, FoldedModel,
                         ::testing::Values("resnet50", "botnet50", "hsanet_x", "hsanet_3x3"));

TEST(FoldedModel, TrainingKeepsNothingOfTheFolds) {
  // The folded weights and their converted copies go when the model trains again: the cache
  // holds as many weight copies after an evaluation and a training step as after a training
  // step alone.
  auto model = tiny("resnet50", ops::Precision::kBF16);
  Rng rng(10);
  const Tensor x = Tensor::randn({2, 64, 64, 3}, rng);
  auto train_forward = [&] {
    model->train();
    (*model)(x);
    for (auto& [name, p] : model->named_parameters()) p.bump_version();  // as an update would
    (*model)(x);
    return ops::conv2d_cache_stats().cached_weights;
  };
  const int64_t before = train_forward();
  model->eval();
  {
    NoGradGuard no_grad;
    (*model)(x);
  }
  // (Below AVX-512 the emulation converts the weights at every call and caches none.)
  if (ops::bf16_native())
    EXPECT_GT(ops::conv2d_cache_stats().cached_weights, before) << "the evaluation folded nothing";
  EXPECT_EQ(train_forward(), before);
}

TEST(FoldedModel, Float32ModelsDoNotFold) {
  auto model = tiny("resnet50", ops::Precision::kF32);
  Rng rng(9);
  const Tensor x = Tensor::randn({1, 64, 64, 3}, rng);
  NoGradGuard no_grad;
  Tensor h = (*model->maxpool)(model->bn1->forward_relu((*model->conv1)(x), *model->relu));
  EXPECT_FALSE((*model->layer1)(h).is_bf16());
}

}  // namespace
}  // namespace hsanet
