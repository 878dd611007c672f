#include "models/attention_bottleneck.h"

#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"
#include "models/bottleneck.h"

namespace hsanet::models {

AttentionBottleneck::AttentionBottleneck(int64_t in, int64_t width_c, int64_t stride,
                                         bool with_downsample, Branch branch, int height,
                                         int width, int heads, int window, Rng& rng)
    : branch(branch) {
  // The convolutions feed a batch norm alone: in bf16 precision their output is bf16. (The
  // attention's qkv is the exception: MHSA reads float32.)
  const nn::Conv2dOptions to_bn{.bf16_output = true};
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, width_c, 1, rng, to_bn));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(width_c));
  mhsa = register_module("mhsa", std::make_shared<MHSA>(static_cast<int>(width_c), height, width,
                                                        heads, window, rng));
  if (stride == 2) pool = register_module("pool", std::make_shared<nn::AvgPool2d>(2, 2, true));
  if (branch == Branch::conv3x3) {
    conv_b = register_module("conv_b", std::make_shared<nn::Conv2d>(
                                           width_c, width_c, 3, rng,
                                           nn::Conv2dOptions{.stride = stride, .padding = 1,
                                                             .bf16_output = true}));
    bn_b = register_module("bn_b", std::make_shared<nn::BatchNorm2d>(width_c));
  }
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(width_c));
  bn2->bf16_output = true;  // read by conv3 alone
  conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(width_c, 4 * width_c, 1, rng, to_bn));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(4 * width_c));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  if (with_downsample) {
    downsample = register_module("downsample", make_downsample(in, 4 * width_c, stride, rng));
    fold_down_ = std::make_unique<FoldableDownsample>(downsample);
  }
}

bool AttentionBottleneck::can_fold() const {
  return nn::can_fold_batch_norm(*this, *conv3, *bn3) && !relu->output_hook &&
         (!fold_down_ || fold_down_->can_fold(*this));
}

Tensor AttentionBottleneck::forward(const Tensor& y) {
  const bool fold = can_fold();
  if (!fold) {  // training keeps nothing of the last evaluation's folds
    fold3_.release();
    if (fold_down_) fold_down_->release();
  }
  // The input is bf16 after a folded block; the unfolded residual add reads float32.
  Tensor shortcut = fold && fold_down_ ? fold_down_->folded(y)
                    : downsample       ? (*downsample)(y)
                    : fold             ? y
                                       : float32(y);
  Tensor t = bn1->forward_relu((*conv1)(y), *relu);  // relu(bn1(conv1(y)))
  Tensor a = (*mhsa)(t);  // replaces the 3x3 conv
  if (pool) a = (*pool)(a);
  switch (branch) {
    case Branch::none:  // BoTNet-50
      break;
    case Branch::identity:  // HSANet(x): the attention's own input, pooled like a
      a = add(a, pool ? (*pool)(t) : t);
      break;
    case Branch::conv3x3:  // HSANet(3x3)
      a = add(a, (*bn_b)((*conv_b)(t)));
      break;
  }
  Tensor z = bn2->forward_relu(a, *relu);                      // relu(bn2(a + b))
  if (fold) return fold3_(*conv3, *bn3, z, std::move(shortcut), /*relu=*/true);
  return bn3->forward_add_relu((*conv3)(z), shortcut, *relu);  // relu(bn3(conv3(z)) + shortcut)
}

}  // namespace hsanet::models
