// A Conv2d followed by a BatchNorm2d in evaluation mode is one convolution. With, per output
// channel o, s[o] = gamma[o] / sqrt(running_var[o] + eps):
//   bn(conv(x, w) + b) = conv(x, w * s) + (beta + (b - running_mean) * s)
// (w * s scales each output channel's filter). Inference in bf16 runs that one convolution with
// the residual add and the ReLU inside it (autograd: conv2d_inference_bf16), so the batch norm,
// the add and the ReLU cost no pass over memory of their own, and the block's output stays bf16
// for the next convolution (docs/precision.md: "Inference").
#pragma once

#include <array>
#include <memory>

#include "nn/layers.h"

namespace hsanet::nn {

// True when a module may run conv -> bn folded: evaluation mode, no gradient recorded, no
// module trace (summaries list the unfused modules), bf16 convolutions, and no output hook on
// either module (they would not be called).
bool can_fold_batch_norm(const Module& owner, const Conv2d& conv, const BatchNorm2d& bn);

// The folded weight and bias of one conv -> bn pair, kept between calls and made again only when
// one of the six source tensors changes (its identity or version: optimiser steps, loads).
class ConvBnFold {
 public:
  // relu?(bn(conv(x)) + residual?) in bf16: [N, OH, OW, O]. residual: undefined for none; move it
  // in to let the convolution write into its buffer.
  Tensor operator()(const Conv2d& conv, const BatchNorm2d& bn, const Tensor& x,
                    Tensor residual = Tensor(), bool relu = false);

  // Drops the folded tensors (and with them their converted copies): a model back in training
  // keeps nothing of its last evaluation.
  void release() { weight_ = bias_ = Tensor(); }

  const Tensor& weight() const { return weight_; }  // [O, C/groups, KH, KW]
  const Tensor& bias() const { return bias_; }      // [O]

 private:
  void refresh(const Conv2d& conv, const BatchNorm2d& bn);

  Tensor weight_, bias_;
  // conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var as last seen.
  struct Seen {
    std::weak_ptr<TensorImpl> impl;
    uint64_t version = 0;
  };
  std::array<Seen, 6> seen_;
};

}  // namespace hsanet::nn
