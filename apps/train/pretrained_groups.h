// --freeze-epochs, --lr-pretrained-mult and --freeze-bn: the parameters --init-from loaded, found
// in the optimiser, their learning-rate group, and the batch norms whose statistics it loaded
// (docs/finetuning.md).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "apps/train/train_config.h"
#include "nn/layers.h"
#include "nn/optimizer.h"

namespace hsanet::train {

// Indices into opt.params() of the parameters named in `loaded` (buffers in it are ignored).
std::vector<size_t> pretrained_parameters(const nn::Optimizer& opt, const std::set<std::string>& loaded);

// Gives the pretrained parameters lr x cfg.lr_pretrained_mult, and returns the line the run logs
// ("" when none of the three options is on). Throws std::runtime_error when one is on and
// nothing was loaded: they need --init-from.
std::string apply_pretrained_groups(const TrainConfig& cfg, nn::Optimizer& opt, const std::vector<size_t>& pretrained);

// The batch norms of `model` that --freeze-bn keeps on their loaded statistics: those whose
// running statistics are among the `loaded` names and whose input is the output of a loaded
// convolution (torchvision's naming: bnN after convN, bn_b after conv_b, downsample.1 after
// downsample.0). Not the attention block's bn2: it normalises the fresh attention's output.
std::vector<nn::BatchNorm2d*> pretrained_batch_norms(nn::Module& model, const std::set<std::string>& loaded);

}  // namespace hsanet::train
