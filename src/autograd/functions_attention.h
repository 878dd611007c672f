// Differentiable multi-head self-attention with 2-D relative position logits (global or local).
#pragma once

#include "autograd/tensor.h"
#include "ops/attention_device.h"

namespace hsanet {

// qkv: [B, H, W, 3C] the (unscaled) output of the fused q/k/v 1x1 convolution, NHWC, channels
//      ordered q | k | v, head j owning channels j*d .. j*d + d - 1 of each (d = C / heads).
// rel_height: [2H-1, d] (global) or [K, d] (local); rel_width: [2W-1, d] or [K, d].
// window: 0 for global attention over all H*W keys, K (odd) for the K x K local window.
// Returns [B, H, W, C]. Gradients flow to qkv and both tables. Runs on `device` (backward too).
// Saves the probabilities P for backward (not the logits), and nothing when no input requires
// grad.
// probs_out, when given, receives those probabilities as [B, heads, H*W, keys] (the softmax rows
// the forward computed; see ops/attention.h for the key order), also under NoGradGuard. Null
// (the default) changes nothing: training passes none.
Tensor mhsa(const Tensor& qkv, const Tensor& rel_height, const Tensor& rel_width, int heads,
            int window = 0, Tensor* probs_out = nullptr, ops::Device device = ops::Device::cpu);

}  // namespace hsanet
