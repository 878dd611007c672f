// Data-parallel training: the processes of one job, and the gradient all-reduce between them.
//
// A Communicator is the job's world: this process's rank, how many there are, and the few
// collective operations data-parallel training needs. LocalCommunicator is the world of one
// process (every collective is the identity); with MPI (built with HSANET_HAVE_MPI) the world is
// MPI_COMM_WORLD, see distributed_mpi.cc. docs/distributed.md says what is synchronised and how.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_hooks.h"
#include "nn/module.h"

namespace hsanet::nn {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "local", "mpi"
  // In-place sums over all ranks, blocking.
  virtual void all_reduce_sum(float* data, int64_t n) = 0;
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  // Starts an in-place float sum and returns at once; `data` must stay untouched until
  // wait_all(). progress() lets outstanding sums advance (MPI moves a non-blocking collective
  // on only inside MPI calls).
  virtual void start_all_reduce_sum(float* data, int64_t n) = 0;
  virtual void progress() = 0;
  virtual void wait_all() = 0;
  // Copies root's buffer into every rank's.
  virtual void broadcast(float* data, int64_t n, int root) = 0;
  virtual void broadcast(int64_t* data, int64_t n, int root) = 0;
  virtual void barrier() = 0;
  // Ends the whole job (every rank) with this message on stderr and exit code `code`: a rank
  // that failed must not leave the others waiting in a collective forever.
  [[noreturn]] virtual void abort(const std::string& message, int code) = 0;
};

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  void all_reduce_sum(float*, int64_t) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void start_all_reduce_sum(float*, int64_t) override {}
  void progress() override {}
  void wait_all() override {}
  void broadcast(float*, int64_t, int) override {}
  void broadcast(int64_t*, int64_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int code) override;
};

// True when this build can run on MPI.
bool mpi_available();
// The MPI world (MPI_Init_thread on first use, MPI_Finalize at exit). Throws std::runtime_error
// in a build without MPI.
std::unique_ptr<Communicator> make_mpi_communicator();
// True when this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK), so that cpu_train joins the job without a flag.
bool launched_by_mpi();

// Every rank takes root's values of these tensors (weights after initialisation or a load).
void broadcast_tensors(Communicator& comm, const NamedTensors& tensors, int root = 0);

// Averages the parameters' gradients across ranks after backward, in buckets of about
// `bucket_bytes` (25 MB, as PyTorch's DDP) so that a large model is summed in a few large
// messages rather than hundreds of small ones. Buckets follow the parameters in reverse order,
// the order in which the backward sweep finishes them: with `overlap`, a bucket's sum starts as
// soon as the sweep has produced all its gradients (through the engine's gradient-ready hook),
// while the sweep goes on with the layers below.
//
// Each rank scales its gradients by `weight` (its samples over the step's global samples) before
// the sum, so the result is the gradient of the global batch's mean loss even when the last
// batch splits unevenly.
class GradientReducer {
 public:
  GradientReducer(Communicator& comm, const NamedTensors& params, int64_t bucket_bytes = 25 << 20,
                  bool overlap = true);
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before backward: arms the hook for this step.
  void begin_step(double weight);
  // What the backward sweep calls as each gradient is ready (Tensor::backward's on_grad_ready):
  // starts a bucket's sum once all its gradients are in. Empty without overlap or with one
  // process, where everything is summed by finish_step.
  const GradReadyHook& grad_ready_hook() const { return hook_; }
  // After backward: starts whatever has not started, waits, and writes the summed gradients
  // back. A parameter the step left without a gradient counts as zeros.
  void finish_step();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // The parameter indices of bucket b, in the order they are packed.
  const std::vector<int>& bucket(int b) const { return buckets_[b].params; }

 private:
  struct Bucket {
    std::vector<int> params;
    std::vector<int64_t> offsets;  // each parameter's place in data
    std::vector<float> data;
    int ready = 0;
    bool started = false;
  };
  void on_grad_ready(int param);
  void start_bucket(Bucket& b);

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<int> bucket_of_;     // [params] its bucket
  std::vector<char> param_ready_;  // [params] its gradient arrived this step
  std::vector<Bucket> buckets_;
  bool overlap_;
  GradReadyHook hook_;
  bool armed_ = false;
  float weight_ = 1.f;
};

}  // namespace hsanet::nn
