#include "nn/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <unordered_map>

#include "autograd/grad_hooks.h"

namespace hsanet::nn {

void LocalCommunicator::abort(const std::string& message, int code) {
  std::cerr << message << "\n" << std::flush;
  std::_Exit(code);
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

void broadcast_tensors(Communicator& comm, const NamedTensors& tensors, int root) {
  if (comm.size() == 1) return;
  for (const auto& [name, t] : tensors) {
    Tensor v = t;  // shares storage: the broadcast lands in the tensor itself
    comm.broadcast(v.data(), v.numel(), root);
    v.bump_version();  // cached reorders of the old values are stale
  }
}

namespace {
// One map from a leaf's TensorImpl to its parameter index per reducer; the hook looks it up.
using ImplIndex = std::unordered_map<const void*, int>;
}  // namespace

GradientReducer::GradientReducer(Communicator& comm, const NamedTensors& params, int64_t bucket_bytes,
                                 bool overlap)
    : comm_(comm), overlap_(overlap) {
  if (bucket_bytes < 1) throw std::invalid_argument("GradientReducer: bucket_bytes must be positive");
  for (const auto& [name, p] : params) params_.push_back(p);
  const int n = static_cast<int>(params_.size());
  bucket_of_.assign(n, -1);
  param_ready_.assign(n, 0);
  // Reverse order: the sweep finishes the last layers' gradients first.
  for (int i = n - 1; i >= 0; --i) {
    if (buckets_.empty() || static_cast<int64_t>(buckets_.back().data.size() * sizeof(float)) >= bucket_bytes)
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.params.push_back(i);
    b.offsets.push_back(static_cast<int64_t>(b.data.size()));
    b.data.resize(b.data.size() + params_[i].numel());
    bucket_of_[i] = static_cast<int>(buckets_.size()) - 1;
  }
  if (overlap_ && comm_.size() > 1) {
    auto index = std::make_shared<ImplIndex>();
    for (int i = 0; i < n; ++i) (*index)[params_[i].impl()] = i;
    hook_ = [this, index](const TensorImpl* leaf) {
      auto it = index->find(leaf);
      if (it != index->end()) on_grad_ready(it->second);
    };
  }
}

void GradientReducer::begin_step(double weight) {
  weight_ = static_cast<float>(weight);
  std::fill(param_ready_.begin(), param_ready_.end(), 0);
  for (Bucket& b : buckets_) b.ready = 0, b.started = false;
  armed_ = true;
}

void GradientReducer::on_grad_ready(int i) {
  if (!armed_) return;
  Bucket& b = buckets_[bucket_of_[i]];
  if (param_ready_[i]) {
    // A second contribution to a gradient whose bucket may already be on the wire: a parameter
    // used twice in one step. Every rank sees the same graph, so every rank stops here.
    if (b.started)
      throw std::logic_error("GradientReducer: a parameter received a second gradient after its bucket was "
                             "sent; overlap needs each parameter used once per step (turn overlap off)");
    return;
  }
  param_ready_[i] = 1;
  if (++b.ready == static_cast<int>(b.params.size())) start_bucket(b);
  comm_.progress();
}

void GradientReducer::start_bucket(Bucket& b) {
  for (size_t k = 0; k < b.params.size(); ++k) {
    const Tensor g = params_[b.params[k]].grad();
    float* dst = b.data.data() + b.offsets[k];
    const int64_t n = params_[b.params[k]].numel();
    if (!g.defined()) {
      std::fill(dst, dst + n, 0.f);
    } else {
      const float* src = g.data();
      for (int64_t j = 0; j < n; ++j) dst[j] = weight_ * src[j];
    }
  }
  b.started = true;
  comm_.start_all_reduce_sum(b.data.data(), static_cast<int64_t>(b.data.size()));
}

void GradientReducer::finish_step() {
  armed_ = false;
  // The same order on every rank: buckets not started by the hook start now, in bucket order.
  for (Bucket& b : buckets_)
    if (!b.started) start_bucket(b);
  comm_.wait_all();
  for (Bucket& b : buckets_) {
    for (size_t k = 0; k < b.params.size(); ++k) {
      Tensor p = params_[b.params[k]];
      // A fresh tensor: the old gradient may share storage with a buffer of the sweep.
      Tensor g = Tensor::empty(p.shape());
      p.set_grad(g);
      std::memcpy(g.data(), b.data.data() + b.offsets[k], sizeof(float) * p.numel());
    }
  }
}

#ifndef HSANET_HAVE_MPI
bool mpi_available() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  throw std::runtime_error("this build has no MPI (configure with libopenmpi-dev installed and HSANET_MPI=ON)");
}
#endif

}  // namespace hsanet::nn
