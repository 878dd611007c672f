// --freeze-epochs and --lr-pretrained-mult: the parameters --init-from loaded, found in the
// optimiser, and their learning-rate group (docs/finetuning.md).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "apps/train/train_config.h"
#include "nn/optimizer.h"

namespace hsanet::train {

// Indices into opt.params() of the parameters named in `loaded` (buffers in it are ignored).
std::vector<size_t> pretrained_parameters(const nn::Optimizer& opt, const std::set<std::string>& loaded);

// Gives the pretrained parameters lr x cfg.lr_pretrained_mult, and returns the line the run logs
// ("" when neither option is on). Throws std::runtime_error when an option is on and nothing was
// loaded: both need --init-from.
std::string apply_pretrained_groups(const TrainConfig& cfg, nn::Optimizer& opt, const std::vector<size_t>& pretrained);

}  // namespace hsanet::train
