// One training step, the same for every program that trains (cpu_train's epoch loop,
// bench_train_step, `hsanet run`): forward, cross-entropy, backward, and the optimiser's update
// when one is given. It returns what the step measured; what a program does around it (the
// learning-rate schedule, accumulation groups, data-parallel sums, clipping, EMA, logging) stays
// with the program.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/tensor.h"
#include "nn/data_parallel.h"
#include "nn/module.h"
#include "nn/optimizer.h"

namespace hsanet::nn {

struct TrainStepStats {
  Tensor logits;        // [B, K]
  Tensor loss;          // scalar: the mean cross-entropy over the batch, before loss_scale
  double loss_value = 0;
  int64_t correct = 0;  // images whose largest logit is their label (`labels`)
  int64_t samples = 0;  // B (with a DataParallel: loss_value, correct and samples are the
                        // global batch's, over every process)
};

struct TrainStepOptions {
  float label_smoothing = 0;  // hard labels only (soft targets carry their own)
  // backward() runs on loss * loss_scale: 1 / K for each of K batches whose gradients add up
  // before one update (gradient accumulation).
  float loss_scale = 1;
  // When set: its gradients are zeroed before the forward and it steps after the backward.
  Optimizer* optimizer = nullptr;
  // When set: the figures are the global batch's (summed before before_backward sees them) and
  // the gradients are summed over the processes after the backward (nn/data_parallel.h).
  DataParallel* parallel = nullptr;
  // Called between the loss and the backward with the step's figures so far (a program checks
  // the loss there, or sums the figures over processes); it may throw to stop before backward.
  std::function<void(TrainStepStats&)> before_backward;
};

// images: [B, H, W, 3] (NHWC); labels: [B], each in [0, K) -- the targets of the cross-entropy,
// and what accuracy is counted against. soft_targets: [B, K] rows summing to 1 (mixup, cutmix),
// or undefined for the hard labels (then smoothed by label_smoothing).
TrainStepStats train_step(Module& model, const Tensor& images, const std::vector<int32_t>& labels,
                          const Tensor& soft_targets, const TrainStepOptions& opt);

// The index of the largest of k values, the earlier one on ties: the top-1 prediction.
int64_t argmax(const float* row, int64_t k);

}  // namespace hsanet::nn
