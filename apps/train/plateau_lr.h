// --sched plateau: the learning rate of each epoch, replayed from the run's history through
// nn::ReduceLrOnPlateau (PyTorch's ReduceLROnPlateau). The validation value --monitor names
// (of the EMA with --select-by ema) of epoch e decides the lr of epoch e + 1. Nothing but the
// history is state, and the checkpoint holds the history, so a resumed run continues with exactly
// the lr an uninterrupted one would have.
#pragma once

#include <vector>

#include "apps/train/history.h"
#include "apps/train/train_config.h"

namespace hsanet::train {

// The base lr (before warm-up) of epochs 1 .. history.size() + 1: element e is epoch e + 1's.
std::vector<double> plateau_lrs(const History& history, const TrainConfig& cfg);

}  // namespace hsanet::train
