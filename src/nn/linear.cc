#include "nn/linear.h"

#include <cmath>

#include "autograd/functions_basic.h"
#include "base/random.h"

namespace hsanet::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Rng& rng, bool with_bias) {
  const float bound = 1.f / std::sqrt(static_cast<float>(in_features));
  weight = register_parameter(
      "weight", Tensor::uniform({out_features, in_features}, rng, -bound, bound));
  if (with_bias)
    bias = register_parameter("bias", Tensor::uniform({out_features}, rng, -bound, bound));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

}  // namespace hsanet::nn
