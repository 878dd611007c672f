// Where a resumed run continues from, whatever moment the previous process was killed at.
//
// An epoch ends with metrics.csv, then last.safetensors, then (when the epoch is the best so far)
// best.safetensors, each written atomically. A kill between any two leaves one of:
//   - no checkpoint at all (epoch 1 never finished): the run starts again from epoch 1;
//   - last ahead of best (killed after last, before best, in an epoch that was the best): best is
//     brought up to date from last, which holds the very same weights;
//   - no last but a best (written by an older version, which wrote best first, or last removed by
//     hand): the run continues from best, with a note that the later epochs are redone;
//   - a best that scored higher than the best last knows of (the same older order: best of a
//     first attempt at an epoch that is now redone): its score is kept as the one to beat, so a
//     redone epoch never replaces it with a worse model.
#pragma once

#include <string>

#include "apps/train/checkpoint.h"
#include "apps/train/run_setup.h"
#include "apps/train/write_points.h"

namespace hsanet::train {

struct Restored {
  TrainingState state;  // epoch 0 when no checkpoint exists
  std::string source;   // the checkpoint loaded; empty when none
  std::string notes;    // lines for the log: what was found and what was done about it
};

// Loads the model, optimiser and (when not null) the EMA from the run's checkpoint as above, repairing best when it lags
// (only when `repair`: the processes of a data-parallel job other than rank 0 write nothing).
// Throws std::runtime_error naming the file when the checkpoint does not fit the model.
Restored restore_run(const RunFiles& run, nn::Module& model, nn::Optimizer& optimizer, WritePoints& points,
                     bool repair = true, nn::ModelEma* ema = nullptr);

}  // namespace hsanet::train
