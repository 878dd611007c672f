// Module: a node of the model tree. Holds parameters (trained), buffers (running statistics)
// and named children, so every tensor has a dotted name such as "layer1.0.conv1.weight" --
// the names PyTorch uses, which is what makes weights portable between the two.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tensor.h"

namespace hsanet::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Modules with one input and one output override this (Sequential chains them).
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Recursive, in registration order, with dotted names.
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters then buffers: what a checkpoint holds (PyTorch's state_dict order differs, but
  // names are what matter when loading).
  NamedTensors state_dict() const;
  int64_t num_parameters() const;

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  // A short type name for summaries ("Conv2d", "BatchNorm2d", ...).
  virtual std::string type_name() const { return "Module"; }

  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // every parameter's grad -> undefined

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Runs its children in order.
class Sequential : public Module {
 public:
  Sequential() = default;
  // Appends a module, named by its position ("0", "1", ...), and returns it.
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    return register_module(std::to_string(children().size()), std::move(m));
  }
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace hsanet::nn
