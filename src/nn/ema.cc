#include "nn/ema.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace hsanet::nn {

ModelEma::ModelEma(const Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  if (!(decay >= 0 && decay < 1)) throw std::invalid_argument("EMA decay must be in [0, 1)");
  for (const auto& [name, t] : model.state_dict()) state_.emplace_back(name, t.clone());
}

double ModelEma::decay_at(int64_t updates) const {
  if (!warmup_) return decay_;
  return std::min(decay_, (1.0 + static_cast<double>(updates)) / (10.0 + static_cast<double>(updates)));
}

void ModelEma::update(const Module& model, int64_t updates) {
  const NamedTensors current = model.state_dict();
  if (current.size() != state_.size()) throw std::logic_error("ModelEma: the model's state dict changed size");
  const float d = static_cast<float>(decay_at(updates)), keep = 1.0f - d;
  for (size_t i = 0; i < state_.size(); ++i) {
    float* e = state_[i].second.data();             // [numel]: the average
    const float* p = current[i].second.data();      // [numel]: the model now
    const int64_t n = state_[i].second.numel();
    for (int64_t k = 0; k < n; ++k) e[k] = d * e[k] + keep * p[k];
    state_[i].second.bump_version();
  }
}

void ModelEma::load(const NamedTensors& tensors) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = &t;
  for (auto& [name, t] : state_) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw std::runtime_error("no EMA tensor '" + name + "'");
    if (it->second->shape() != t.shape()) throw std::runtime_error("EMA tensor '" + name + "' has another shape");
  }
  for (auto& [name, t] : state_) {
    t.copy_from(*by_name[name]);
    t.bump_version();
  }
}

void ModelEma::swap_with(const Module& model) {
  NamedTensors current = model.state_dict();
  if (current.size() != state_.size()) throw std::logic_error("ModelEma: the model's state dict changed size");
  for (size_t i = 0; i < state_.size(); ++i) {
    float* e = state_[i].second.data();  // [numel]
    float* p = current[i].second.data();  // [numel]
    std::swap_ranges(e, e + state_[i].second.numel(), p);
    current[i].second.bump_version();  // caches of transformed weights must see the new values
    state_[i].second.bump_version();
  }
}

}  // namespace hsanet::nn
