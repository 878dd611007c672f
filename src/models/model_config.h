// What to build: one of the four networks of the model contract (docs/model_contract.md),
// with its options.
#pragma once

#include <string>
#include <vector>

#include "ops/attention_device.h"
#include "ops/conv2d.h"
#include "ops/precision.h"

namespace hsanet::models {

enum class Branch { none, identity, conv3x3 };  // BoTNet-50, HSANet(x), HSANet(3x3)

struct ModelConfig {
  std::string name = "resnet50";  // resnet50 | botnet50 | hsanet_x | hsanet_3x3
  int num_classes = 26;
  int height = 224, width = 224;  // input size: the relative tables depend on the map sizes
  std::string attention = "global";  // global | local
  int window = 7;                    // K of local attention (odd)
  std::vector<int> attention_stages{4};  // which of layer1..layer4 hold attention blocks
  int heads = 4;
  double width_mult = 1.0;        // scales the stage widths 64/128/256/512 (tiny test models)
  std::vector<int> blocks{3, 4, 6, 3};  // bottlenecks per stage
  // The arithmetic of the convolutions (docs/precision.md); not a property of the weights: a
  // model trained in one precision loads and runs in the other.
  ops::Precision precision = ops::Precision::kF32;
  // The convolutions' algorithm (--conv-algorithm; ops/conv2d.h): rounding only, like precision.
  ops::Conv2dAlgorithm conv_algorithm = ops::Conv2dAlgorithm::kFast;
  // Where the attention cores run (--attention-device); build_model checks that it can be used.
  ops::Device attention_device = ops::Device::cpu;

  bool has_attention() const { return name != "resnet50"; }
  Branch branch() const;
  // Throws std::invalid_argument with the reason when the configuration cannot be built.
  void validate() const;
};

// The model names build_model understands.
const std::vector<std::string>& model_names();

}  // namespace hsanet::models
