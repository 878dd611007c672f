#include "models/bottleneck.h"

#include <stdexcept>

#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"

namespace hsanet::models {

std::shared_ptr<nn::Sequential> make_downsample(int64_t in, int64_t out, int64_t stride, Rng& rng) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->add(std::make_shared<nn::Conv2d>(in, out, 1, rng, nn::Conv2dOptions{.stride = stride, .bf16_output = true}));
  seq->add(std::make_shared<nn::BatchNorm2d>(out));
  return seq;
}

FoldableDownsample::FoldableDownsample(const std::shared_ptr<nn::Sequential>& s)
    : seq(s.get()),
      conv(dynamic_cast<nn::Conv2d*>(s->children().at(0).second.get())),
      bn(dynamic_cast<nn::BatchNorm2d*>(s->children().at(1).second.get())) {
  if (!conv || !bn) throw std::logic_error("FoldableDownsample: not a Conv2d and a BatchNorm2d");
}

bool FoldableDownsample::can_fold(const nn::Module& owner) const {
  return !seq->output_hook && nn::can_fold_batch_norm(owner, *conv, *bn);
}

Bottleneck::Bottleneck(int64_t in, int64_t width, int64_t stride, bool with_downsample, Rng& rng) {
  // Every convolution here feeds a batch norm alone: in bf16 precision its output is bf16.
  const nn::Conv2dOptions to_bn{.bf16_output = true};
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(in, width, 1, rng, to_bn));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(width));
  conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(
                                       width, width, 3, rng,
                                       nn::Conv2dOptions{.stride = stride, .padding = 1, .bf16_output = true}));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(width));
  conv3 = register_module("conv3", std::make_shared<nn::Conv2d>(width, 4 * width, 1, rng, to_bn));
  bn1->bf16_output = bn2->bf16_output = true;  // read by conv2 and conv3 alone
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(4 * width));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  if (with_downsample) {
    downsample = register_module("downsample", make_downsample(in, 4 * width, stride, rng));
    fold_down_ = std::make_unique<FoldableDownsample>(downsample);
  }
}

bool Bottleneck::can_fold() const {
  return nn::can_fold_batch_norm(*this, *conv1, *bn1) && nn::can_fold_batch_norm(*this, *conv2, *bn2) &&
         nn::can_fold_batch_norm(*this, *conv3, *bn3) && !relu->output_hook &&
         (!fold_down_ || fold_down_->can_fold(*this));
}

void Bottleneck::release_folds() {
  fold1_.release(), fold2_.release(), fold3_.release();
  if (fold_down_) fold_down_->release();
}

Tensor Bottleneck::forward_folded(const Tensor& y) {
  Tensor shortcut = fold_down_ ? fold_down_->folded(y) : y;      // bf16 when folded
  Tensor t = fold1_(*conv1, *bn1, y, {}, /*relu=*/true);          // relu(bn1(conv1(y)))
  t = fold2_(*conv2, *bn2, t, {}, /*relu=*/true);                 // relu(bn2(conv2(t)))
  return fold3_(*conv3, *bn3, t, std::move(shortcut), /*relu=*/true);  // relu(bn3(conv3(t)) + shortcut)
}

Tensor Bottleneck::forward(const Tensor& y) {
  if (can_fold()) return forward_folded(y);
  release_folds();
  // y is bf16 after a folded block; the residual add reads float32.
  Tensor shortcut = downsample ? (*downsample)(y) : float32(y);
  Tensor t = bn1->forward_relu((*conv1)(y), *relu);          // relu(bn1(conv1(y)))
  t = bn2->forward_relu((*conv2)(t), *relu);                 // relu(bn2(conv2(t)))
  return bn3->forward_add_relu((*conv3)(t), shortcut, *relu);  // relu(bn3(conv3(t)) + shortcut)
}

}  // namespace hsanet::models
