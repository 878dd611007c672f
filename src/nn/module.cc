#include "nn/module.h"

#include <stdexcept>

#include "base/profiler.h"

namespace hsanet::nn {

Tensor Module::forward(const Tensor&) {
  throw std::logic_error(type_name() + " has no single-input forward()");
}

namespace {
thread_local ModuleTrace* g_trace = nullptr;
}

ModuleTrace::ModuleTrace() : previous_(g_trace) { g_trace = this; }
ModuleTrace::~ModuleTrace() { g_trace = previous_; }
ModuleTrace* ModuleTrace::active() { return g_trace; }

Tensor Module::operator()(const Tensor& x) {
  ModuleTrace* trace = g_trace;
  if (!trace) {
    Tensor y;
    if (!Profiler::active()) {
      y = forward(x);
    } else {
      ProfileRegion region("forward", type_name());
      y = forward(x);
    }
    return output_hook ? output_hook(y) : y;
  }
  const Shape in = x.shape();
  Tensor y = forward(x);
  if (output_hook) y = output_hook(y);
  // Hidden intermediates first: in PyTorch they are computed (and hooked) before the output.
  for (auto& [type, shape] : hidden_outputs(in))
    trace->add({path_ + "." + type, type, shape, 0, 0, true});
  trace->add({path_, type_name(), y.shape(), own_parameters(), flops(in, y.shape()), false});
  return y;
}

int64_t Module::own_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : params_) n += t.numel();
  return n;
}

void Module::assign_paths(const std::string& prefix) {
  path_ = prefix;
  for (auto& [name, child] : children_) child->assign_paths(prefix.empty() ? name : prefix + "." + name);
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, std::move(t));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::move(t));
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [name, t] : params ? params_ : buffers_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& nt : named_buffers()) out.push_back(nt);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [name, child] : children()) h = (*child)(h);
  return h;
}

}  // namespace hsanet::nn
