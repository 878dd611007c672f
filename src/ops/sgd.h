// The SGD update (PyTorch's torch.optim.SGD, coupled weight decay) over one parameter's n floats:
//   d = g + weight_decay * w
//   with momentum: buf = first ? d : momentum * buf + (1 - dampening) * d
//                  d = nesterov ? d + momentum * buf : buf
//   w -= lr * d
// Memory-bound (five streams of n floats), so the kernel is one vectorised pass (Highway),
// threaded over contiguous chunks, and it writes the momentum buffer with streaming stores:
// the buffer is read again only at the next step, so caching its lines would only push out the
// activations the forward pass is about to read (docs/performance.md).
#pragma once

#include <cstdint>

namespace hsanet::ops {

struct SgdStep {
  float lr = 0.f;
  float momentum = 0.f;      // 0: no buffer (buf may be nullptr)
  float dampening = 0.f;
  float weight_decay = 0.f;
  bool nesterov = false;
  bool first = false;        // the buffer's first step: buf = d, whatever it held
};

//   w, g, buf: [n]   buf is nullptr when momentum is 0
void sgd_update(float* w, const float* g, float* buf, int64_t n, const SgdStep& s);

}  // namespace hsanet::ops
