#include "nn/optimizer.h"

#include <cmath>
#include <stdexcept>

#include "ops/parallel.h"
#include "ops/sgd.h"

namespace hsanet::nn {

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.zero_grad();
}

void Optimizer::set_lr_scales(std::vector<float> scales) {
  if (!scales.empty() && scales.size() != params_.size())
    throw std::invalid_argument("set_lr_scales: " + std::to_string(scales.size()) + " scales for " +
                                std::to_string(params_.size()) + " parameters");
  for (float s : scales)
    if (!(s >= 0)) throw std::invalid_argument("set_lr_scales: a scale must be >= 0");
  lr_scales_ = std::move(scales);
}

namespace {

// Finds `name` in a saved state list; throws with the name when absent or misshapen.
Tensor find_state(const NamedTensors& state, const std::string& name, const Shape& shape) {
  for (const auto& [n, t] : state)
    if (n == name) {
      if (t.shape() != shape)
        throw std::runtime_error("optimiser state '" + name + "' has shape " + shape_str(t.shape()) +
                                 ", expected " + shape_str(shape));
      return t.clone();
    }
  return Tensor();
}

float step_count_of(const NamedTensors& state) {
  for (const auto& [n, t] : state)
    if (n == "step") return t.item();
  throw std::runtime_error("optimiser state has no 'step' entry");
}

}  // namespace

SGD::SGD(NamedTensors params, const SgdOptions& opt) : Optimizer(std::move(params)), opt_(opt) {
  if (opt.lr < 0 || opt.momentum < 0 || opt.weight_decay < 0)
    throw std::invalid_argument("SGD: lr, momentum and weight decay must be >= 0");
  if (opt.nesterov && (opt.momentum <= 0 || opt.dampening != 0))
    throw std::invalid_argument("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
  lr_ = opt.lr;
  momentum_.resize(params_.size());
}

void SGD::step() {
  ops::SgdStep st;
  st.lr = lr_;
  st.momentum = opt_.momentum;
  st.dampening = opt_.dampening;
  st.weight_decay = opt_.weight_decay;
  st.nesterov = opt_.nesterov;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    st.lr = lr_of(i);
    st.first = st.momentum != 0.f && !momentum_[i].defined();
    if (st.first) momentum_[i] = Tensor::empty(p.shape());
    ops::sgd_update(p.data(), g.data(), st.momentum != 0.f ? momentum_[i].data() : nullptr,
                    p.numel(), st);
    p.bump_version();
  }
  ++steps_;
}

NamedTensors SGD::state() const {
  NamedTensors s{{"step", Tensor::full({1}, static_cast<float>(steps_))}};
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_[i].defined()) s.emplace_back("momentum_buffer." + params_[i].first, momentum_[i]);
  return s;
}

void SGD::load_state(const NamedTensors& state) {
  steps_ = static_cast<int64_t>(step_count_of(state));
  for (size_t i = 0; i < params_.size(); ++i)
    momentum_[i] = find_state(state, "momentum_buffer." + params_[i].first, params_[i].second.shape());
}

AdamW::AdamW(NamedTensors params, const AdamWOptions& opt)
    : Optimizer(std::move(params)), opt_(opt) {
  if (opt.lr < 0 || opt.weight_decay < 0 || opt.eps <= 0 || opt.beta1 < 0 || opt.beta1 >= 1 ||
      opt.beta2 < 0 || opt.beta2 >= 1)
    throw std::invalid_argument("AdamW: need lr >= 0, wd >= 0, eps > 0 and betas in [0, 1)");
  lr_ = opt.lr;
  m_.resize(params_.size());
  v_.resize(params_.size());
}

void AdamW::step() {
  ++steps_;
  const float b1 = opt_.beta1, b2 = opt_.beta2, eps = opt_.eps;
  const float c1 = 1.f - std::pow(b1, static_cast<float>(steps_));
  const float c2 = 1.f - std::pow(b2, static_cast<float>(steps_));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const float lr = lr_of(i);  // this parameter's group
    const float decay = 1.f - lr * opt_.weight_decay;
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.shape());
      v_[i] = Tensor::zeros(p.shape());
    }
    float* w = p.data();
    float* m = m_[i].data();
    float* v = v_[i].data();
    const float* gr = g.data();
    const int64_t n = p.numel();
#pragma omp parallel for simd schedule(static) if (n >= ops::kParallelGrain)
    for (int64_t j = 0; j < n; ++j) {
      w[j] *= decay;
      m[j] = b1 * m[j] + (1.f - b1) * gr[j];
      v[j] = b2 * v[j] + (1.f - b2) * gr[j] * gr[j];
      w[j] -= lr * (m[j] / c1) / (std::sqrt(v[j] / c2) + eps);
    }
    p.bump_version();
  }
}

NamedTensors AdamW::state() const {
  NamedTensors s{{"step", Tensor::full({1}, static_cast<float>(steps_))}};
  for (size_t i = 0; i < params_.size(); ++i)
    if (m_[i].defined()) {
      s.emplace_back("exp_avg." + params_[i].first, m_[i]);
      s.emplace_back("exp_avg_sq." + params_[i].first, v_[i]);
    }
  return s;
}

void AdamW::load_state(const NamedTensors& state) {
  steps_ = static_cast<int64_t>(step_count_of(state));
  for (size_t i = 0; i < params_.size(); ++i) {
    m_[i] = find_state(state, "exp_avg." + params_[i].first, params_[i].second.shape());
    v_[i] = find_state(state, "exp_avg_sq." + params_[i].first, params_[i].second.shape());
  }
}

}  // namespace hsanet::nn
