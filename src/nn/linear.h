// Fully connected layer y = x W^T + b, and ReLU as a module.
#pragma once

#include "base/random.h"
#include "nn/module.h"

namespace hsanet::nn {

class Linear : public Module {
 public:
  // PyTorch's default initialisation: W, b ~ U(-1/sqrt(in), 1/sqrt(in)), drawn from rng.
  Linear(int64_t in_features, int64_t out_features, Rng& rng, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x: [N, in] -> [N, out]
  std::string type_name() const override { return "Linear"; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out], undefined without bias
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

}  // namespace hsanet::nn
