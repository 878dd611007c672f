// MHSA: multi-head self-attention over a feature map with BoTNet's 2-D relative position logits.
//
//   qkv = conv1x1(t)                      [N, H, W, 3C]  (q | k | v; head j owns channels j*d..)
//   out = attention(q / sqrt(d), k, v)    [N, H, W, C]
//   logit(xy -> x'y') = q.k + q.rel_height[x'-x+H-1] + q.rel_width[y'-y+W-1]   (global)
//   logit(xy -> x'y') = q.k + q.rel_height[x'-x+r]   + q.rel_width[y'-y+r]     (local K x K)
// docs/attention.md derives forward and backward; src/ops/attention.* holds the kernels.
#pragma once

#include <functional>

#include "nn/layers.h"
#include "ops/attention_device.h"

namespace hsanet::models {

// The relative position tables, a module of their own so that weight names read
// "mhsa.rel_pos.rel_height" as in the model contract.
class RelPosEmb2d : public nn::Module {
 public:
  RelPosEmb2d(int rows_h, int rows_w, int head_dim, Rng& rng);  // N(0, 1) * d^-0.5
  std::string type_name() const override { return "RelPosEmb2d"; }
  Tensor rel_height;  // [2H-1, d] global, [K, d] local
  Tensor rel_width;   // [2W-1, d] global, [K, d] local
};

class MHSA : public nn::Module {
 public:
  // channels C = heads * d; map H x W (the block's input map); window 0 = global, else K.
  MHSA(int channels, int height, int width, int heads, int window, Rng& rng);
  Tensor forward(const Tensor& t) override;  // [N, H, W, C] -> [N, H, W, C]
  double flops(const Shape& in, const Shape& out) const override;
  // PyTorch computes the logits (RelPosEmb2d) and the probabilities (Softmax) as module outputs.
  std::vector<std::pair<std::string, Shape>> hidden_outputs(const Shape& in) const override;
  std::string type_name() const override { return "MHSA2d"; }

  // Called by each forward with the attention probabilities P [N, heads, H*W, keys] (softmax rows
  // over the keys, ops/attention.h's key order), for tools that draw attention maps. Empty by
  // default, and then the forward is exactly the training one.
  std::function<void(const Tensor& probs)> probs_hook;
  // Where the attention core runs (ModelConfig::attention_device; the qkv convolution and the
  // rest of the network stay on the CPU).
  ops::Device device = ops::Device::cpu;

  std::shared_ptr<nn::Conv2d> qkv;       // 1x1, C -> 3C, no bias
  std::shared_ptr<RelPosEmb2d> rel_pos;
  int channels, height, width, heads, window;
};

}  // namespace hsanet::models
