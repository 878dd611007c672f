// ResNet-50's bottleneck (torchvision "v1.5": the stride sits on the 3x3 conv):
//   t = relu(bn1(conv1(y)))            1x1, C_in -> C
//   t = relu(bn2(conv2(t)))            3x3, stride s
//   out = relu(bn3(conv3(t)) + shortcut(y))   1x1, C -> 4C;  shortcut = downsample or identity
#pragma once

#include "nn/conv_bn_fold.h"
#include "nn/layers.h"

namespace hsanet::models {

// 1x1 conv (stride s, no bias) + BN, named "downsample.0" / "downsample.1".
std::shared_ptr<nn::Sequential> make_downsample(int64_t in, int64_t out, int64_t stride, Rng& rng);

// A downsample shortcut's two layers, and their fold for bf16 inference (nn/conv_bn_fold.h).
struct FoldableDownsample {
  explicit FoldableDownsample(const std::shared_ptr<nn::Sequential>& seq);
  bool can_fold(const nn::Module& owner) const;
  Tensor folded(const Tensor& y) { return fold(*conv, *bn, y); }  // bn(conv(y)), bf16
  void release() { fold.release(); }

  const nn::Sequential* seq;
  nn::Conv2d* conv;
  nn::BatchNorm2d* bn;
  nn::ConvBnFold fold;
};

class Bottleneck : public nn::Module {
 public:
  Bottleneck(int64_t in, int64_t width, int64_t stride, bool downsample, Rng& rng);
  Tensor forward(const Tensor& y) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity

 private:
  // Inference in bf16 (nn/conv_bn_fold.h): every conv -> bn pair as one convolution, the ReLUs
  // and the residual add inside them; the output is bf16.
  bool can_fold() const;
  Tensor forward_folded(const Tensor& y);
  void release_folds();
  nn::ConvBnFold fold1_, fold2_, fold3_;
  std::unique_ptr<FoldableDownsample> fold_down_;  // with a downsample
};

}  // namespace hsanet::models
