// Tensor: a float32 array with a shape, contiguous row-major storage (64-byte aligned) that views
// share, and the autograd state (requires_grad, grad, the node that produced it).
//
// One exception to float32, for bf16 mixed precision (docs/precision.md): a bf16 convolution
// whose consumer is a batch norm writes its output in bf16 (DType::kBF16, two values to each
// float of storage), and the batch norm reads it so, and writes that output's gradient in bf16
// for the convolution's backward. Only those two ops read or write bf16 tensors: every other
// use of one (data(), to_vector(), a sum of gradients) throws a std::logic_error saying so.
//
// Images are NHWC throughout: [batch, height, width, channels]. Channels are the contiguous axis,
// which is what oneDNN's fastest convolutions and Highway's vector loops both want.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_hooks.h"

namespace hsanet {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[4, 56, 56, 64]"

// Aligned float buffer. Owned by shared_ptr so that views share it.
class Storage {
 public:
  explicit Storage(int64_t count);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() { return data_; }
  int64_t size() const { return size_; }

 private:
  float* data_;   // [size_], 64-byte aligned
  int64_t size_;
};

struct Node;
class Rng;

enum class DType : uint8_t {
  kF32,   // float32
  kBF16,  // bf16 bit patterns (uint16_t), packed two to a float of storage
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in floats, into storage (0 for bf16 tensors)
  DType dtype = DType::kF32;
  Shape shape;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient (leaves), same shape
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor (non-leaves)
  uint64_t version = 0;  // bumped by in-place updates (optimiser steps, loads): caches of
                         // derived data (reordered convolution weights) compare it
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (no storage)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ----
  static Tensor empty(const Shape& shape);  // uninitialised
  static Tensor empty_bf16(const Shape& shape);  // uninitialised, DType::kBF16
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor randn(const Shape& shape, Rng& rng, float mean = 0.f, float stddev = 1.f);
  static Tensor uniform(const Shape& shape, Rng& rng, float lo, float hi);
  // Kaiming (He) normal with gain sqrt(2) for ReLU: std = sqrt(2 / fan).
  static Tensor kaiming_normal(const Shape& shape, int64_t fan, Rng& rng);

  // ---- shape and data ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return static_cast<int>(shape().size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const;
  float* data();  // throws std::logic_error for a bf16 tensor
  const float* data() const;
  DType dtype() const { return impl_ ? impl_->dtype : DType::kF32; }
  bool is_bf16() const { return dtype() == DType::kBF16; }
  // A bf16 tensor's values (throws std::logic_error for a float32 one).
  uint16_t* bf16_data();
  const uint16_t* bf16_data() const;
  float item() const;  // the single value of a one-element tensor
  std::vector<float> to_vector() const;

  // A view with another shape over the same storage (no autograd record: see hsanet::reshape).
  Tensor view(const Shape& shape) const;
  // A new tensor that shares this one's storage but has no autograd history.
  Tensor detach() const;
  // A deep copy, without autograd history.
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same numel; raw copy
  void fill(float value);
  bool shares_storage_with(const Tensor& other) const;
  // In-place updates call this so that caches keyed on (impl, version) see the change.
  void bump_version() { impl_->version++; }
  uint64_t version() const { return impl_ ? impl_->version : 0; }

  // ---- autograd ----
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const { return !impl_ || !impl_->grad_fn; }
  Tensor grad() const;        // undefined until a backward pass reaches this leaf
  void zero_grad();           // sets grad to undefined (as PyTorch's set_to_none)
  void set_grad(const Tensor& g);
  // Adds g into grad (allocating it on first use); checks shapes with a precise message.
  void accumulate_grad(const Tensor& g);
  // The same, taking over g's storage as the gradient when nothing else holds it (no copy).
  void accumulate_grad(Tensor&& g);
  const std::shared_ptr<Node>& grad_fn() const;
  // Reverse-mode sweep from this tensor. With no argument it must hold one element (a loss).
  // on_grad_ready: called each time a leaf's gradient is complete (autograd/grad_hooks.h).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false,
                const GradReadyHook& on_grad_ready = {}) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  // True when this handle is the only one on its data: no other Tensor, view or saved copy
  // shares the implementation or the storage, so writing in place is seen by no one else.
  bool sole_owner() const;

  std::string to_string(int max_per_dim = 6) const;

 private:
  void check_defined(const char* what) const;
  void check_dtype(DType want, const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace hsanet
