// Module: a node of the model tree. Holds parameters (trained), buffers (running statistics)
// and named children, so every tensor has a dotted name such as "layer1.0.conv1.weight" --
// the names PyTorch uses, which is what makes weights portable between the two.
#pragma once

#include <functional>
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
  // Calls forward and, while a ModuleTrace is active, records this call's output (summaries).
  // Modules call their children through operator(), so every call can be traced.
  Tensor operator()(const Tensor& x);
  // Forward FLOPs (2 x multiply-adds) of one call, given its input and output shapes.
  virtual double flops(const Shape& input, const Shape& output) const { return 0; }
  // Elements of intermediate results that PyTorch would expose as module outputs but this
  // engine computes inside one fused op (attention logits, softmax), as (type, shape) pairs;
  // summaries count them as torchsummary does.
  virtual std::vector<std::pair<std::string, Shape>> hidden_outputs(const Shape& input) const {
    return {};
  }

  // Called by operator() with each forward's output, which it may replace: an explaining tool
  // turns a layer's output into a leaf to read the gradient a score sends it (Grad-CAM). Empty
  // by default, and then a call pays one test of an empty std::function.
  std::function<Tensor(const Tensor& output)> output_hook;

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
  // Number of this module's own parameters (not its children's).
  int64_t own_parameters() const;
  // Dotted path of this module in its tree ("layer1.0.conv1"); set by assign_paths().
  const std::string& path() const { return path_; }
  void assign_paths(const std::string& prefix = "");

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
  std::string path_;
};

// Calls f(module) for m and every module below it, parents before children.
template <class F>
void for_each_module(Module& m, const F& f) {
  f(m);
  for (const auto& child : m.children()) for_each_module(*child.second, f);
}

// Records every module call made while it is alive (on this thread), for summaries.
struct TraceEntry {
  std::string path;    // "layer1.0.conv1"
  std::string type;    // "Conv2d"
  Shape output;        // output shape of this call
  int64_t params = 0;  // the module's own parameters
  double flops = 0;    // forward FLOPs of this call
  bool hidden = false; // an intermediate of a fused op (see Module::hidden_outputs)
};

class ModuleTrace {
 public:
  ModuleTrace();
  ~ModuleTrace();
  ModuleTrace(const ModuleTrace&) = delete;
  ModuleTrace& operator=(const ModuleTrace&) = delete;
  const std::vector<TraceEntry>& entries() const { return entries_; }
  static ModuleTrace* active();
  void add(TraceEntry e) { entries_.push_back(std::move(e)); }

 private:
  std::vector<TraceEntry> entries_;
  ModuleTrace* previous_;
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
