// Gradient clipping before the optimiser step, as torch.nn.utils does it.
//   norm:  total = sqrt(sum over every parameter's gradient of g^2)  (one global L2 norm);
//          when total > max_norm, every gradient is scaled by max_norm / (total + 1e-6).
//   value: every gradient element is clamped to [-clip, clip].
// Parameters without a gradient are skipped. Non-finite gradients are left to the caller's
// divergence check (a NaN total scales nothing).
#pragma once

#include "nn/module.h"

namespace hsanet::nn {

// Returns the total norm before clipping (torch.nn.utils.clip_grad_norm_'s return value).
double clip_grad_norm(const NamedTensors& params, double max_norm);
void clip_grad_value(const NamedTensors& params, double clip);

}  // namespace hsanet::nn
