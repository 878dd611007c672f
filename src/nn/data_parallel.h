// Data-parallel training of one model over the processes of a job (docs/distributed.md): each
// process runs the same model on its share of the global batch, and a train_step given a
// DataParallel (TrainStepOptions::parallel) ends with every process holding the global batch's
// mean gradient and figures. It owns the gradient all-reduce (GradientReducer, and through it
// the backward sweep's gradient-ready hook) and, with sync_bn, makes every batch norm take its
// statistics over the processes (convert_sync_batchnorm).
#pragma once

#include <cstdint>
#include <memory>

#include "nn/distributed.h"
#include "nn/module.h"

namespace hsanet::nn {

struct TrainStepStats;

class DataParallel {
 public:
  DataParallel(Communicator& comm, Module& model, int64_t bucket_bytes, bool overlap, bool sync_bn);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Between the loss and the backward: the step's loss, hits and images summed over the
  // processes (st then holds the global batch's: the mean loss, the hit and image counts), and
  // the gradient all-reduce armed, each process's gradient weighted by its share of the images.
  void before_backward(TrainStepStats& st);
  // What the backward sweep calls as each gradient is ready (Tensor::backward): the all-reduce
  // of a bucket starts while the sweep goes on.
  const GradReadyHook& grad_ready_hook() const;
  // After the backward: the all-reduce finished, the summed gradients in place on every process.
  void after_backward();

  Communicator& comm() { return comm_; }

 private:
  Communicator& comm_;
  Module& model_;
  bool sync_bn_;
  std::unique_ptr<GradientReducer> reducer_;
};

}  // namespace hsanet::nn
