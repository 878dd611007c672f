// A callback the backward sweep makes each time it adds a gradient into a leaf's .grad, so that
// data-parallel training can start summing a group of gradients across processes while the
// sweep goes on with the layers below (nn::GradientReducer). It is an argument of the sweep
// (Tensor::backward): nothing about it outlives the call. An empty one costs the sweep one test
// of an empty std::function per leaf.
#pragma once

#include <functional>

namespace hsanet {

struct TensorImpl;
using GradReadyHook = std::function<void(const TensorImpl* leaf)>;

}  // namespace hsanet
