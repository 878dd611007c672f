// A callback the backward sweep makes each time it adds a gradient into a leaf's .grad, so that
// data-parallel training can start summing a group of gradients across processes while the
// sweep goes on with the layers below (nn::GradientReducer). One hook per process; none by
// default, and then the sweep pays one test of an empty std::function per leaf.
#pragma once

#include <functional>

namespace hsanet {

struct TensorImpl;
using GradReadyHook = std::function<void(const TensorImpl* leaf)>;

// Installs `hook` (an empty one removes it); returns the previous one.
GradReadyHook set_grad_ready_hook(GradReadyHook hook);
// The engine's side: calls the hook, if any.
void notify_grad_ready(const TensorImpl* leaf);

}  // namespace hsanet
