// Optimisers with PyTorch's update rules, so that runs compare number for number.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace hsanet::nn {

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  // Applies one update to every parameter that has a gradient, then bumps its version.
  virtual void step() = 0;
  void zero_grad();
  float lr() const { return lr_; }
  void set_lr(float lr) { lr_ = lr; }
  int64_t steps() const { return steps_; }
  // The optimiser's state (momentum buffers, moments, step count) as named tensors, for
  // checkpoints; load_state restores it (names and shapes must match).
  virtual NamedTensors state() const = 0;
  virtual void load_state(const NamedTensors& state) = 0;
  const NamedTensors& params() const { return params_; }
  // Parameter groups by learning rate: parameter i trains at lr() x scales[i] (weight decay as
  // before, per parameter; AdamW's decoupled decay uses the scaled lr, as PyTorch's groups do).
  // Empty: every scale is 1. Throws std::invalid_argument unless one scale per parameter, >= 0.
  void set_lr_scales(std::vector<float> scales);
  float lr_of(size_t i) const { return lr_scales_.empty() ? lr_ : lr_ * lr_scales_[i]; }

 protected:
  NamedTensors params_;
  float lr_ = 0.01f;
  std::vector<float> lr_scales_;  // [params_.size()] or empty (all 1)
  int64_t steps_ = 0;
};

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.f;
  float dampening = 0.f;
  float weight_decay = 0.f;  // L2, added to the gradient (PyTorch SGD)
  bool nesterov = false;
};

// g = grad + wd * p;  buf = momentum * buf + (1 - dampening) * g  (buf = g on the first step);
// g = g + momentum * buf (Nesterov) or g = buf;  p -= lr * g
class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SgdOptions& opt);
  void step() override;
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  SgdOptions opt_;
  std::vector<Tensor> momentum_;  // one per parameter, undefined until first used
};

struct AdamWOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 1e-2f;  // decoupled: p -= lr * wd * p
};

// p -= lr*wd*p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
class AdamW : public Optimizer {
 public:
  AdamW(NamedTensors params, const AdamWOptions& opt);
  void step() override;
  NamedTensors state() const override;
  void load_state(const NamedTensors& state) override;

 private:
  AdamWOptions opt_;
  std::vector<Tensor> m_, v_;  // first and second moments, one per parameter
};

}  // namespace hsanet::nn
