// One training epoch: for each batch, set the scheduled learning rate, forward, cross-entropy
// (over soft targets when the loader mixed the batch), backward, optimiser step; watch the loss;
// report progress.
//
// With --accum-steps K the batches go in groups of K: each batch's loss is divided by the size of
// its group and its gradient added to the others', and the optimiser steps once per group, so a
// step sees the mean gradient over K batches. A trailing partial group of r < K batches at the
// end of the epoch (or of --limit-batches) is stepped too, its losses divided by r, as timm's
// train.py does. The schedule, the warm-up, global_step and the logs count optimiser steps.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "apps/train/progress.h"
#include "apps/train/run_log.h"
#include "apps/train/train_config.h"
#include "data/loader.h"
#include "nn/data_parallel.h"
#include "nn/ema.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "nn/optimizer.h"
#include "nn/schedule.h"

namespace hsanet::train {

// A loss that is NaN or infinite: the run has diverged and must stop before anything is saved.
class NonFiniteLoss : public std::runtime_error {
 public:
  NonFiniteLoss(const std::string& message, int epoch, long long step)
      : std::runtime_error(message), epoch_(epoch), step_(step) {}
  int epoch() const { return epoch_; }      // 1-based
  long long step() const { return step_; }  // global step, from 0

 private:
  int epoch_;
  long long step_;
};

struct EpochContext {
  nn::Module& model;
  nn::Optimizer& optimizer;
  const nn::LrSchedule& schedule;
  data::DataLoader& loader;
  const TrainConfig& cfg;
  ProgressLine& progress;
  RunLog& log;
  long long fault_nan_step = -1;  // test hook: this global step's loss is taken as NaN
  // Data-parallel: the job's world and the gradient all-reduce; null for one process. Losses,
  // accuracies and sample counts are then those of the global batch, on every rank.
  nn::DataParallel* parallel = nullptr;
  nn::ModelEma* ema = nullptr;  // --ema: updated after every optimiser step; null when off
  // --init-from: indices into optimizer.params() of the parameters the file gave. During the
  // first cfg.freeze_epochs epochs their gradients are dropped after backward (and after the
  // all-reduce), so clipping, momentum, moments and weight decay leave them exactly as loaded.
  std::vector<size_t> pretrained{};
  // --freeze-bn: the batch norms whose statistics --init-from loaded; each epoch sets them to
  // evaluation mode after the model's train(), so they normalise with those statistics and keep them.
  std::vector<nn::BatchNorm2d*> frozen_bn{};
};

struct EpochResult {
  double loss = 0, accuracy = 0;  // means over the epoch's training samples
  double lr = 0;                  // the last step's learning rate
  int steps = 0;                  // optimiser steps (batches / --accum-steps, rounded up)
  int batches = 0;
  long long samples = 0;
  double wait_seconds = 0;        // total time spent waiting for batches
  double grad_norm = 0;           // with --clip-grad: mean over the steps of the global gradient
                                  // norm before clipping (the accumulated gradient's)
};

// Trains epoch `epoch` (0-based). `global_step` counts optimiser steps across epochs and is
// advanced. Throws NonFiniteLoss before the offending step's update.
EpochResult train_one_epoch(EpochContext& ctx, int epoch, long long& global_step);

// Whether epoch `epoch` (0-based) trains with the pretrained parameters frozen: decided from the
// epoch number alone, so a resumed run unfreezes where an uninterrupted one would.
inline bool pretrained_frozen(const TrainConfig& cfg, int epoch) { return epoch < cfg.freeze_epochs; }

}  // namespace hsanet::train
