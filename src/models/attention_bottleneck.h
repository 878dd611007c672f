// The attention bottleneck: BoTNet's block, and the paper's two HSANet variants.
//
//   t = relu(bn1(conv1(y)))                 1x1, C_in -> C
//   a = MHSA(t)                             replaces the 3x3 conv
//   a = avgpool2x2(a)          if s == 2    kernel 2, stride 2, ceil mode
//   b = 0                                   BoTNet-50
//     | t (avg-pooled like a)               HSANet(x):   the identity over the attention
//     | bn_b(conv_b(t))                     HSANet(3x3): 3x3 conv, stride s, pad 1, + BN
//   z = relu(bn2(a + b))
//   out = relu(bn3(conv3(z)) + shortcut(y)) the ReLU after the residual add
#pragma once

#include "models/bottleneck.h"
#include "models/mhsa.h"
#include "models/model_config.h"

namespace hsanet::models {

class AttentionBottleneck : public nn::Module {
 public:
  // height x width: the map this block sees (its input); window 0 = global attention.
  AttentionBottleneck(int64_t in, int64_t width_c, int64_t stride, bool downsample, Branch branch,
                      int height, int width, int heads, int window, Rng& rng);
  Tensor forward(const Tensor& y) override;
  std::string type_name() const override { return "AttnBottleneck"; }

  std::shared_ptr<nn::Conv2d> conv1, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<MHSA> mhsa;
  std::shared_ptr<nn::AvgPool2d> pool;       // only when stride == 2
  std::shared_ptr<nn::Conv2d> conv_b;        // HSANet(3x3) only
  std::shared_ptr<nn::BatchNorm2d> bn_b;     // HSANet(3x3) only
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;
  Branch branch;

 private:
  // Inference in bf16 (nn/conv_bn_fold.h): the shortcut's conv -> bn and the last conv -> bn
  // with the residual add and the ReLU as one convolution each; the output is then bf16. The
  // attention reads float32, so bn1 stays a batch norm of its own.
  bool can_fold() const;
  nn::ConvBnFold fold3_;
  std::unique_ptr<FoldableDownsample> fold_down_;  // with a downsample
};

}  // namespace hsanet::models
