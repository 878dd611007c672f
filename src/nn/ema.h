// An exponential moving average of a model's weights, as timm's ModelEmaV2 keeps it: after every
// optimiser step, for every tensor of the state dict (parameters and buffers such as batch norm's
// running statistics),
//   ema = decay_t * ema + (1 - decay_t) * current
// with, when warm-up is on, decay_t = min(decay, (1 + t) / (10 + t)), t the number of updates
// made before this one (the classic num_updates warm-up of TensorFlow's ExponentialMovingAverage):
// the first update keeps 90% of the current weights, and the average forgets its random start.
// The average starts as a copy of the model (timm: deepcopy at construction).
#pragma once

#include <cstdint>

#include "nn/module.h"

namespace hsanet::nn {

class ModelEma {
 public:
  ModelEma(const Module& model, double decay, bool warmup);

  // The decay used by the update that follows `updates` earlier ones.
  double decay_at(int64_t updates) const;
  // One averaging step against the model's current state dict; `updates` as above.
  void update(const Module& model, int64_t updates);
  // The averaged tensors, named and shaped as model.state_dict(); for checkpoints.
  const NamedTensors& state() const { return state_; }
  // Sets the average from tensors named as state(); throws std::runtime_error naming a missing
  // or misshaped one.
  void load(const NamedTensors& tensors);
  // Exchanges the values of the model's state dict and the average: twice restores both exactly.
  // Evaluating the average, or saving it as the model, is a swap, the work, and a swap back.
  void swap_with(const Module& model);

 private:
  double decay_;
  bool warmup_;
  NamedTensors state_;  // deep copies of the model's state dict, same order and shapes
};

}  // namespace hsanet::nn
