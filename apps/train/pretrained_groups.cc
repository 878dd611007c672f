#include "apps/train/pretrained_groups.h"

#include <fmt/format.h>

#include <stdexcept>

namespace hsanet::train {

std::vector<size_t> pretrained_parameters(const nn::Optimizer& opt, const std::set<std::string>& loaded) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < opt.params().size(); ++i)
    if (loaded.count(opt.params()[i].first)) idx.push_back(i);
  return idx;
}

std::string apply_pretrained_groups(const TrainConfig& cfg, nn::Optimizer& opt, const std::vector<size_t>& pretrained) {
  const bool freeze = cfg.freeze_epochs > 0, scale = cfg.lr_pretrained_mult != 1.0;
  if (!freeze && !scale && !cfg.freeze_bn) return "";
  if (pretrained.empty())
    throw std::runtime_error("--freeze-epochs, --lr-pretrained-mult and --freeze-bn act on the parameters "
                             "--init-from loads, and this run has none (start it with --init-from)");
  if (scale) {
    std::vector<float> scales(opt.params().size(), 1.f);  // [parameters]
    for (size_t i : pretrained) scales[i] = static_cast<float>(cfg.lr_pretrained_mult);
    opt.set_lr_scales(std::move(scales));
  }
  std::string line = fmt::format("fine-tuning: {} pretrained parameter tensors", pretrained.size());
  if (freeze)
    line += fmt::format(", frozen for the first {} epochs (batch norm statistics still update)", cfg.freeze_epochs);
  if (scale) line += fmt::format(", lr x {}", cfg.lr_pretrained_mult);
  if (cfg.freeze_bn) line += ", their batch norms on the loaded statistics";
  return line;
}

std::vector<nn::BatchNorm2d*> pretrained_batch_norms(nn::Module& model, const std::set<std::string>& loaded) {
  std::vector<nn::BatchNorm2d*> bns;
  nn::for_each_module(model, [&](nn::Module& m) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m);
    if (bn && loaded.count(bn->path() + ".running_mean") && loaded.count(bn->path() + ".running_var"))
      bns.push_back(bn);
  });
  return bns;
}

}  // namespace hsanet::train
