// ResNet-50's bottleneck (torchvision "v1.5": the stride sits on the 3x3 conv):
//   t = relu(bn1(conv1(y)))            1x1, C_in -> C
//   t = relu(bn2(conv2(t)))            3x3, stride s
//   out = relu(bn3(conv3(t)) + shortcut(y))   1x1, C -> 4C;  shortcut = downsample or identity
#pragma once

#include "nn/layers.h"

namespace hsanet::models {

// 1x1 conv (stride s, no bias) + BN, named "downsample.0" / "downsample.1".
std::shared_ptr<nn::Sequential> make_downsample(int64_t in, int64_t out, int64_t stride);

class Bottleneck : public nn::Module {
 public:
  Bottleneck(int64_t in, int64_t width, int64_t stride, bool downsample);
  Tensor forward(const Tensor& y) override;
  std::string type_name() const override { return "Bottleneck"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shortcut is the identity
};

}  // namespace hsanet::models
