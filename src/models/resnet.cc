#include "models/resnet.h"

#include <algorithm>
#include <cmath>

#include "autograd/functions_vision.h"
#include "models/attention_bottleneck.h"
#include "models/bottleneck.h"
#include "models/mhsa.h"
#include "nn/layers.h"

namespace hsanet::models {

int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  const int64_t span = n + 2 * p - k;
  int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // PyTorch's rule: with ceil mode, the last window must start inside the input or left padding.
  if (ceil_mode && (o - 1) * s >= n + p) --o;
  return o;
}

ResNet::ResNet(const ModelConfig& cfg, Rng& rng) : config_(cfg) {
  cfg.validate();
  auto scaled = [&](int64_t w) {
    // Stage widths scaled, kept divisible by the head count where attention may sit.
    const int64_t h = cfg.heads;
    const int64_t v = std::max<int64_t>(h, static_cast<int64_t>(std::lround(w * cfg.width_mult)));
    return (v + h - 1) / h * h;
  };
  const int64_t stem = scaled(64);
  conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(
                                       3, stem, 7, rng,
                                       nn::Conv2dOptions{.stride = 2, .padding = 3, .bf16_output = true}));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(stem));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  maxpool = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));

  // Track the map size through the stem, so attention blocks know their H x W.
  int64_t h = out_size(out_size(cfg.height, 7, 2, 3), 3, 2, 1);
  int64_t w = out_size(out_size(cfg.width, 7, 2, 3), 3, 2, 1);
  int64_t in = stem;
  const int64_t widths[4] = {64, 128, 256, 512};
  std::shared_ptr<nn::Sequential>* layers[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int stage = 0; stage < 4; ++stage) {
    const bool attention = cfg.has_attention() &&
                           std::find(cfg.attention_stages.begin(), cfg.attention_stages.end(),
                                     stage + 1) != cfg.attention_stages.end();
    const int64_t width_c = scaled(widths[stage]);
    auto seq = std::make_shared<nn::Sequential>();
    for (int b = 0; b < cfg.blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      const bool down = b == 0 && (stride != 1 || in != 4 * width_c);
      if (attention) {
        seq->add(std::make_shared<AttentionBottleneck>(
            in, width_c, stride, down, cfg.branch(), static_cast<int>(h), static_cast<int>(w),
            cfg.heads, cfg.attention == "local" ? cfg.window : 0, rng));
      } else {
        seq->add(std::make_shared<Bottleneck>(in, width_c, stride, down, rng));
      }
      if (stride == 2) {  // the 3x3/2 pad-1 conv, the 1x1/2 shortcut and the 2x2 ceil pool agree
        h = out_size(h, 3, 2, 1);
        w = out_size(w, 3, 2, 1);
      }
      in = 4 * width_c;
    }
    *layers[stage] = register_module("layer" + std::to_string(stage + 1), seq);
  }
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>());
  fc = register_module("fc", std::make_shared<nn::Linear>(in, cfg.num_classes, rng));
  assign_paths();
}

Tensor ResNet::forward(const Tensor& x) { return (*fc)(features(x)); }

Tensor ResNet::features(const Tensor& x) {
  if (x.ndim() != 4 || x.size(3) != 3)
    throw std::invalid_argument("model input must be NHWC [N, H, W, 3], got " + shape_str(x.shape()));
  Tensor h = (*maxpool)(bn1->forward_relu((*conv1)(x), *relu));
  h = (*layer4)((*layer3)((*layer2)((*layer1)(h))));
  return (*avgpool)(float32(h));  // bf16 after blocks folded for inference (nn/conv_bn_fold.h)
}

void set_attention_device(nn::Module& m, ops::Device device) {
  nn::for_each_module(m, [device](nn::Module& x) {
    if (auto* a = dynamic_cast<MHSA*>(&x)) a->device = device;
  });
}

std::shared_ptr<ResNet> build_model(const ModelConfig& config, uint64_t seed) {
  Rng rng(seed);
  auto model = std::make_shared<ResNet>(config, rng);
  nn::set_precision(*model, config.precision);
  nn::set_conv_algorithm(*model, config.conv_algorithm);
  ops::require_device(config.attention_device);  // throws with the reason if unusable
  set_attention_device(*model, config.attention_device);
  return model;
}

}  // namespace hsanet::models
