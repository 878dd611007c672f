// The reverse sweep. Kahn's algorithm over the nodes reachable from the root: a node runs once
// every consumer of its output has added its share into node->grad. Iterative throughout, so
// ResNet-50's hundreds of nodes (or a 10,000-deep chain) need no recursion.
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/grad_hooks.h"
#include "autograd/node.h"
#include "base/profiler.h"
#include "ops/elementwise.h"

namespace hsanet {

namespace {

// Adds g into a node's gradient buffer. The first contribution is kept by reference (no copy);
// a second one makes a fresh sum, so a tensor shared between buffers is never written in place.
void add_to_buffer(Node& node, Tensor g) {
  if (g.shape() != node.output_shape)
    throw std::invalid_argument(std::string("backward: gradient of shape ") + shape_str(g.shape()) +
                                " reached the output of '" + node.name + "', which has shape " +
                                shape_str(node.output_shape));
  if (!node.grad.defined()) {
    node.grad = std::move(g);
    return;
  }
  Tensor sum = Tensor::empty(node.output_shape);
  ops::add(node.grad.data(), g.data(), sum.data(), sum.numel());
  node.grad = std::move(sum);
}

// The accumulation targets of the closure now running (see accumulation_target in node.h).
thread_local std::vector<Tensor>* t_targets = nullptr;

}  // namespace

Tensor accumulation_target(size_t input) {
  if (!t_targets || input >= t_targets->size()) return Tensor();
  return (*t_targets)[input];
}

void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph,
                  const GradReadyHook& on_grad_ready) {
  if (grad_root.shape() != root.shape())
    throw std::invalid_argument("backward: gradient shape " + shape_str(grad_root.shape()) +
                                " does not match the tensor's shape " + shape_str(root.shape()));
  if (!root.requires_grad())
    throw std::logic_error("backward() on a tensor that does not require grad");
  if (root.is_leaf()) {
    Tensor(root.impl_ptr()).accumulate_grad(grad_root);
    if (on_grad_ready) on_grad_ready(root.impl());
    return;
  }

  // 1. Count, for every reachable node, how many edges point at it (its consumers).
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{root.grad_fn().get()};
  pending[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->edges) {
      if (!e.node) continue;
      auto [it, inserted] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  // 2. Run nodes whose consumers are all done, root first.
  Node* first = root.grad_fn().get();
  add_to_buffer(*first, grad_root);
  std::vector<Node*> ready{first};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    if (n->released || !n->fn)
      throw std::logic_error(std::string("backward through '") + n->name +
                             "' a second time: its saved tensors were freed by the first "
                             "backward (pass retain_graph=true to keep them)");
    Tensor g = std::move(n->grad);
    n->grad = Tensor();
    // Partial sums a closure may add into: held by the engine alone (a tensor adopted from a
    // closure may also be another node's buffer or a closure's saved tensor).
    std::vector<Tensor> targets(n->edges.size());
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Edge& e = n->edges[i];
      if (e.node && e.node->grad.defined() && e.node->grad.sole_owner()) targets[i] = e.node->grad;
    }
    std::vector<Tensor> grads;
    {
      ProfileRegion region("backward", n->name);
      std::vector<Tensor>* const outer = t_targets;  // a closure may run a nested backward
      t_targets = &targets;
      try {
        grads = n->fn(g, n->needs);
      } catch (...) {
        t_targets = outer;
        throw;
      }
      t_targets = outer;
    }
    if (!retain_graph) {
      n->fn = nullptr;  // frees the saved tensors now, not at the end of the sweep
      n->released = true;
    }
    if (grads.size() != n->edges.size())
      throw std::logic_error(std::string("backward of '") + n->name + "' returned " +
                             std::to_string(grads.size()) + " gradients for " +
                             std::to_string(n->edges.size()) + " inputs");
    for (size_t i = 0; i < n->edges.size(); ++i) {
      const Edge& e = n->edges[i];
      if (!e.active()) continue;
      if (!grads[i].defined())
        throw std::logic_error(std::string("backward of '") + n->name +
                               "' gave no gradient for input " + std::to_string(i) +
                               ", which needs one");
      if (e.leaf) {
        Tensor(e.leaf).accumulate_grad(std::move(grads[i]));
        if (on_grad_ready) on_grad_ready(e.leaf.get());
      } else {
        // Accumulated in place by the closure (it returned the very target it was offered): the
        // buffer already holds the sum. Anything else is added -- also a tensor that merely
        // is the buffer, as when one gradient goes to two inputs with the same producer.
        const bool accumulated = targets[i].defined() && grads[i].impl() == targets[i].impl();
        if (!accumulated) add_to_buffer(*e.node, std::move(grads[i]));
        if (--pending[e.node.get()] == 0) ready.push_back(e.node.get());
      }
    }
  }
}

}  // namespace hsanet
