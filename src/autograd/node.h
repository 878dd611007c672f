// The tape. Every differentiable op that sees an input requiring grad records one Node:
// where its gradient must go (one Edge per input) and a closure that maps the output's gradient
// to the inputs' gradients. See docs/autograd.md.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_hooks.h"
#include "autograd/tensor.h"

namespace hsanet {

// Which inputs of a node need a gradient. Backward closures compute only those.
using NeedsGrad = std::vector<bool>;
// The output gradient in, one gradient per input out (undefined where !needs[i]).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const NeedsGrad& needs)>;

// Where one input's gradient goes: into the node that produced it, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> node;        // non-leaf input: its producer
  std::shared_ptr<TensorImpl> leaf;  // leaf input that requires grad
  bool active() const { return node || leaf; }
};

struct Node {
  const char* name = "";      // op name, for error messages ("conv2d", "relu", ...)
  std::vector<Edge> edges;    // one per input
  NeedsGrad needs;            // needs[i] == edges[i].active()
  Shape output_shape;         // shape the incoming gradient must have
  BackwardFn fn;              // released after use unless retain_graph
  bool released = false;      // fn was freed by an earlier backward
  Tensor grad;                // gradient of the output, summed over consumers during a sweep
};

// Grad mode: ops record nodes only while it is on (the default).
bool grad_enabled();
class NoGradGuard {  // evaluation scope: `NoGradGuard no_grad;`
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when an op over these inputs must record a node.
bool needs_record(std::initializer_list<const Tensor*> inputs);
bool needs_record(const std::vector<Tensor>& inputs);

// Attaches a node to `output` when grad mode is on and any input requires grad; returns output.
// Closures must capture what they need by value, and capture tensors through .detach() so that
// no tensor ever holds its own node (which would be a reference cycle).
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs, BackwardFn fn);

// For the backward closure now running: the gradient already summed for its input `input` from
// the input's other consumers, when the engine alone holds it; else an undefined Tensor. A
// closure may add its own contribution into this tensor in place and return that very tensor
// as grads[input]: the engine then keeps it as the sum, instead of reading both and writing a
// third (a full pass over the activation at every fan-out, such as each residual block's
// input). Returning any other tensor is always allowed, and is summed as usual.
Tensor accumulation_target(size_t input);

// Runs the reverse sweep from `root` with `grad_root` as its gradient (engine in backward.cc),
// calling on_grad_ready (when not empty) each time a leaf's gradient is added into its .grad.
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph,
                  const GradReadyHook& on_grad_ready = {});

}  // namespace hsanet
