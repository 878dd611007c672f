#include "nn/train_step.h"

#include <stdexcept>
#include <string>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "base/profiler.h"

namespace hsanet::nn {

int64_t argmax(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

TrainStepStats train_step(Module& model, const Tensor& images, const std::vector<int32_t>& labels,
                          const Tensor& soft_targets, const TrainStepOptions& opt) {
  if (opt.optimizer) opt.optimizer->zero_grad();
  TrainStepStats st;
  {
    ProfileRegion region("forward", "loss and glue");
    st.logits = model(images);  // [B, K]
    const int64_t B = st.logits.size(0), K = st.logits.size(1);
    if (static_cast<int64_t>(labels.size()) != B)
      throw std::invalid_argument("train_step: " + std::to_string(labels.size()) +
                                  " labels for a batch of " + std::to_string(B));
    st.loss = soft_targets.defined() ? soft_cross_entropy(st.logits, soft_targets)
                                     : cross_entropy(st.logits, labels, opt.label_smoothing);
    st.loss_value = st.loss.item();
    st.samples = B;
    for (int64_t s = 0; s < B; ++s)
      st.correct += argmax(st.logits.data() + s * K, K) == labels[static_cast<size_t>(s)];
  }
  if (opt.parallel) opt.parallel->before_backward(st);
  if (opt.before_backward) opt.before_backward(st);
  {
    ProfileRegion region("backward", "engine");
    const Tensor loss = opt.loss_scale != 1.f ? scale(st.loss, opt.loss_scale) : st.loss;
    loss.backward(Tensor(), false, opt.parallel ? opt.parallel->grad_ready_hook() : GradReadyHook());
  }
  if (opt.parallel) opt.parallel->after_backward();
  if (opt.optimizer) {
    ProfileRegion region("update", "optimizer");
    opt.optimizer->step();
  }
  return st;
}

}  // namespace hsanet::nn
