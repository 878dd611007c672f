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

namespace {

// The convolution that feeds the batch norm at `path`, by torchvision's naming: bnN <- convN,
// bn_b <- conv_b, downsample.1 <- downsample.0; "" for any other name (the attention block's bn2,
// which normalises the attention's output plus its branch).
std::string feeding_convolution(const std::string& path) {
  const size_t dot = path.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot + 1);
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  if (leaf == "1" && parent.size() >= 11 && parent.compare(parent.size() - 11, 11, "downsample.") == 0)
    return parent + "0";
  if (leaf.rfind("bn", 0) == 0) return parent + "conv" + leaf.substr(2);
  return "";
}

}  // namespace

std::vector<nn::BatchNorm2d*> pretrained_batch_norms(nn::Module& model, const std::set<std::string>& loaded) {
  std::vector<nn::BatchNorm2d*> bns;
  nn::for_each_module(model, [&](nn::Module& m) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m);
    if (!bn) return;
    const std::string& p = bn->path();
    const std::string conv = feeding_convolution(p);
    // Its statistics describe its input only if that input is what it was in the source model:
    // the output of the same, loaded convolution.
    if (loaded.count(p + ".running_mean") && loaded.count(p + ".running_var") && !conv.empty() &&
        loaded.count(conv + ".weight"))
      bns.push_back(bn);
  });
  return bns;
}

}  // namespace hsanet::train
