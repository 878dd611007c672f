// ResNet-50 and its attention variants (BoTNet-50, HSANet(x), HSANet(3x3)): one skeleton.
//   stem:  conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2
//   layer1..layer4: 3, 4, 6, 3 bottlenecks of widths 64, 128, 256, 512 (x4 out)
//   head:  global average pool -> fc
#pragma once

#include <memory>

#include "models/model_config.h"
#include "nn/layers.h"
#include "nn/linear.h"

namespace hsanet::models {

class ResNet : public nn::Module {
 public:
  // Initial weights drawn from rng (torchvision's initialisation: nn::Conv2d, nn::Linear, MHSA).
  ResNet(const ModelConfig& config, Rng& rng);
  Tensor forward(const Tensor& x) override;  // [N, H, W, 3] -> logits [N, classes]
  // The globally average-pooled features that feed fc: [N, H, W, 3] -> [N, fc's inputs] (2048 at
  // width_mult 1, fewer below). forward(x) is fc(features(x)).
  Tensor features(const Tensor& x);
  std::string type_name() const override { return "ResNet"; }
  const ModelConfig& config() const { return config_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::MaxPool2d> maxpool;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Linear> fc;

 private:
  ModelConfig config_;
};

// Builds a model by name (model_names()), its initial weights drawn from Rng(seed): the same seed
// gives the same weights (cpu_train passes --seed).
std::shared_ptr<ResNet> build_model(const ModelConfig& config, uint64_t seed = kDefaultInitSeed);
// Sets where every MHSA in m and below runs its attention core (build_model does it from the
// config; ops::require_device says first whether the device can be used).
void set_attention_device(nn::Module& m, ops::Device device);

// Spatial size after a conv/pool: floor((n + 2p - k) / s) + 1, or ceil with ceil_mode.
int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p, bool ceil_mode = false);

}  // namespace hsanet::models
