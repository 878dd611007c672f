#include "nn/data_parallel.h"

#include "nn/layers.h"
#include "nn/train_step.h"

namespace hsanet::nn {

DataParallel::DataParallel(Communicator& comm, Module& model, int64_t bucket_bytes, bool overlap,
                           bool sync_bn)
    : comm_(comm), model_(model), sync_bn_(sync_bn),
      reducer_(std::make_unique<GradientReducer>(comm, model.named_parameters(), bucket_bytes, overlap)) {
  if (sync_bn_)
    convert_sync_batchnorm(model_, [&comm](double* d, int64_t n) { comm.all_reduce_sum(d, n); });
}

DataParallel::~DataParallel() {
  if (sync_bn_) convert_sync_batchnorm(model_, nullptr);  // the model outlives the job
}

void DataParallel::before_backward(TrainStepStats& st) {
  // [loss sum, hits, images] over the processes
  double step[3] = {st.loss_value * static_cast<double>(st.samples), static_cast<double>(st.correct),
                    static_cast<double>(st.samples)};
  const int64_t local = st.samples;
  comm_.all_reduce_sum(step, 3);
  st.loss_value = step[0] / step[2];
  st.correct = static_cast<int64_t>(step[1]);
  st.samples = static_cast<int64_t>(step[2]);
  reducer_->begin_step(static_cast<double>(local) / step[2]);
}

const GradReadyHook& DataParallel::grad_ready_hook() const { return reducer_->grad_ready_hook(); }

void DataParallel::after_backward() { reducer_->finish_step(); }

}  // namespace hsanet::nn
