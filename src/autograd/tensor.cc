#include "autograd/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "autograd/node.h"
#include "base/allocator.h"
#include "base/random.h"
#include "ops/elementwise.h"

namespace hsanet {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw std::overflow_error("shape " + shape_str(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Storage::Storage(int64_t count) : data_(nullptr), size_(count) {
  // 64-byte alignment: one cache line, and the width of an AVX-512 register.
  data_ = static_cast<float*>(
      allocate_tensor_memory(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float)));
}

Storage::~Storage() {
  release_tensor_memory(data_, static_cast<size_t>(std::max<int64_t>(size_, 1)) * sizeof(float));
}

// ---------------- creation ----------------

Tensor Tensor::empty(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(hsanet::numel(shape));
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty_bf16(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>((hsanet::numel(shape) + 1) / 2);
  impl->shape = shape;
  impl->dtype = DType::kBF16;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.f); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != hsanet::numel(shape))
    throw std::invalid_argument("from_vector: " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, float mean, float stddev) {
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = rng.normal(mean, stddev);
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t = empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

Tensor Tensor::kaiming_normal(const Shape& shape, int64_t fan, Rng& rng) {
  if (fan <= 0) throw std::invalid_argument("kaiming_normal: fan must be positive");
  return randn(shape, rng, 0.f, std::sqrt(2.f / static_cast<float>(fan)));
}

// ---------------- shape and data ----------------

void Tensor::check_defined(const char* what) const {
  if (!impl_) throw std::logic_error(std::string(what) + " on an undefined tensor");
}

const Shape& Tensor::shape() const {
  check_defined("shape()");
  return impl_->shape;
}

int64_t Tensor::size(int dim) const {
  int n = ndim();
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n)
    throw std::out_of_range("dimension " + std::to_string(dim) + " out of range for shape " +
                            shape_str(shape()));
  return impl_->shape[d];
}

int64_t Tensor::numel() const { return hsanet::numel(shape()); }

void Tensor::check_dtype(DType want, const char* what) const {
  check_defined(what);
  if (impl_->dtype == want) return;
  if (want == DType::kF32)
    throw std::logic_error(std::string(what) + " on a bf16 tensor " + shape_str(impl_->shape) +
                           ": it holds a bf16 convolution's output, which only batch norm and "
                           "convolution read (docs/precision.md)");
  throw std::logic_error(std::string(what) + " on a float32 tensor " + shape_str(impl_->shape));
}

float* Tensor::data() {
  check_dtype(DType::kF32, "data()");
  return impl_->storage->data() + impl_->offset;
}

const float* Tensor::data() const {
  check_dtype(DType::kF32, "data()");
  return impl_->storage->data() + impl_->offset;
}

uint16_t* Tensor::bf16_data() {
  check_dtype(DType::kBF16, "bf16_data()");
  return reinterpret_cast<uint16_t*>(impl_->storage->data());
}

const uint16_t* Tensor::bf16_data() const {
  check_dtype(DType::kBF16, "bf16_data()");
  return reinterpret_cast<const uint16_t*>(impl_->storage->data());
}

float Tensor::item() const {
  if (numel() != 1)
    throw std::logic_error("item() needs a one-element tensor, got shape " + shape_str(shape()));
  return data()[0];
}

std::vector<float> Tensor::to_vector() const {
  const float* p = data();
  return std::vector<float>(p, p + numel());
}

Tensor Tensor::view(const Shape& new_shape) const {
  check_defined("view()");
  if (hsanet::numel(new_shape) != numel())
    throw std::invalid_argument("cannot view shape " + shape_str(shape()) + " as " +
                                shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = new_shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::detach() const {
  if (!impl_) return Tensor();
  return view(shape());
}

Tensor Tensor::clone() const {
  check_defined("clone()");
  Tensor t = empty(shape());
  std::memcpy(t.data(), data(), sizeof(float) * static_cast<size_t>(numel()));
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw std::invalid_argument("copy_from: " + shape_str(src.shape()) + " into " +
                                shape_str(shape()));
  std::memcpy(data(), src.data(), sizeof(float) * static_cast<size_t>(numel()));
}

void Tensor::fill(float value) { std::fill_n(data(), numel(), value); }

bool Tensor::shares_storage_with(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
}

// ---------------- autograd ----------------

Tensor& Tensor::set_requires_grad(bool on) {
  check_defined("set_requires_grad()");
  if (!on && impl_->grad_fn)
    throw std::logic_error("set_requires_grad(false) on a non-leaf tensor: use detach()");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  check_defined("grad()");
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::zero_grad() {
  check_defined("zero_grad()");
  impl_->grad.reset();
}

void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad()");
  if (g.defined() && g.shape() != shape())
    throw std::invalid_argument("set_grad: gradient shape " + shape_str(g.shape()) +
                                " does not match tensor shape " + shape_str(shape()));
  impl_->grad = g.defined() ? g.impl_ptr() : nullptr;
}

void Tensor::accumulate_grad(const Tensor& g) {
  check_defined("accumulate_grad()");
  if (g.shape() != shape())
    throw std::invalid_argument("gradient of shape " + shape_str(g.shape()) +
                                " cannot accumulate into a tensor of shape " + shape_str(shape()));
  if (!impl_->grad) {
    // Own a private copy: g may be shared with other gradient buffers of the sweep.
    impl_->grad = g.clone().impl_ptr();
    return;
  }
  Tensor acc(impl_->grad);
  ops::add_inplace(acc.data(), g.data(), acc.numel());
}

bool Tensor::sole_owner() const {
  return impl_ && impl_.use_count() == 1 && impl_->storage && impl_->storage.use_count() == 1 &&
         impl_->offset == 0;
}

void Tensor::accumulate_grad(Tensor&& g) {
  check_defined("accumulate_grad()");
  const bool sole_owner = g.impl_ && !impl_->grad && g.impl_.use_count() == 1 &&
                          g.impl_->storage.use_count() == 1 && g.impl_->offset == 0 &&
                          g.shape() == shape() && !g.impl_->grad_fn;
  if (!sole_owner) return accumulate_grad(static_cast<const Tensor&>(g));
  // The first gradient of a step, held by no one else: it becomes .grad as it is (saves a copy of
  // every parameter's gradient per step).
  auto grad = std::make_shared<TensorImpl>();
  grad->storage = std::move(g.impl_->storage);
  grad->shape = shape();
  impl_->grad = std::move(grad);
  g = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  check_defined("grad_fn()");
  return impl_->grad_fn;
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph,
                      const GradReadyHook& on_grad_ready) const {
  check_defined("backward()");
  Tensor g = grad_output;
  if (!g.defined()) {
    if (numel() != 1)
      throw std::logic_error("backward() without a gradient needs a one-element tensor, got " +
                             shape_str(shape()));
    g = Tensor::ones(shape());
  }
  run_backward(*this, g, retain_graph, on_grad_ready);
}

// ---------------- printing ----------------

std::string Tensor::to_string(int max_per_dim) const {
  if (!impl_) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape());
  if (requires_grad()) os << ", requires_grad";
  if (impl_->grad_fn) os << ", grad_fn=" << impl_->grad_fn->name;
  os << ")\n";
  // Print the last dimension as rows, at most max_per_dim rows and columns.
  int64_t cols = ndim() ? shape().back() : 1;
  int64_t rows = cols ? numel() / cols : 0;
  const float* p = data();
  for (int64_t r = 0; r < std::min<int64_t>(rows, max_per_dim); ++r) {
    os << "  [";
    for (int64_t c = 0; c < std::min<int64_t>(cols, max_per_dim); ++c)
      os << (c ? ", " : "") << p[r * cols + c];
    if (cols > max_per_dim) os << ", ...";
    os << "]\n";
  }
  if (rows > max_per_dim) os << "  ... (" << rows << " rows)\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace hsanet
