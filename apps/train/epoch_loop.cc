#include "apps/train/epoch_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "apps/train/evaluation.h"
#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "data/mix.h"
#include "nn/clip_grad.h"
#include "nn/train_step.h"

namespace hsanet::train {

namespace {

// While alive, the listed parameters (indices into the optimiser's) do not require a gradient.
class NoGradFor {
 public:
  NoGradFor(std::vector<size_t> params, const nn::Optimizer& opt) : params_(std::move(params)), opt_(opt) {
    set(false);
  }
  ~NoGradFor() { set(true); }
  NoGradFor(const NoGradFor&) = delete;
  NoGradFor& operator=(const NoGradFor&) = delete;

 private:
  void set(bool on) {
    for (size_t p : params_) Tensor(opt_.params()[p].second).set_requires_grad(on);
  }
  std::vector<size_t> params_;
  const nn::Optimizer& opt_;
};

}  // namespace

EpochResult train_one_epoch(EpochContext& ctx, int epoch, long long& global_step) {
  using clock = std::chrono::steady_clock;
  const TrainConfig& cfg = ctx.cfg;
  int batches = ctx.loader.batches_per_epoch();
  if (cfg.limit_batches > 0) batches = std::min(batches, cfg.limit_batches);

  const bool frozen = pretrained_frozen(cfg, epoch);
  // One process: frozen parameters ask for no gradient, so backward skips their weight passes;
  // restored when the epoch ends (Grad-CAM and the next epochs expect it). With a gradient
  // reducer every parameter keeps a gradient (its buckets count them) that is dropped after the sum.
  const NoGradFor no_grad(frozen && !ctx.parallel ? ctx.pretrained : std::vector<size_t>{}, ctx.optimizer);
  ctx.model.train();  // batch norm of frozen parts too: its running statistics follow the new data
  for (nn::BatchNorm2d* bn : ctx.frozen_bn) bn->eval();  // --freeze-bn
  ctx.loader.start_epoch(epoch);
  EpochResult r;
  double loss_sum = 0;
  double grad_norm_sum = 0;  // with --clip-grad: the steps' norms before clipping
  long long correct = 0;
  const auto t0 = clock::now();
  data::Batch b;
  const int K = cfg.accum_steps;
  float lr = 0;
  double grad_norm = 0;  // the last step's global L2 norm before clipping, logged when clipping is on
  for (int i = 0; i < batches && ctx.loader.next(b); ++i) {
    // Batch i belongs to the group starting at group_start; the last group may be short.
    const int group_start = i / K * K, group = std::min(K, batches - group_start);
    const bool group_begins = i == group_start, group_ends = i + 1 == group_start + group;
    if (group_begins) {
      lr = ctx.schedule.lr(epoch, global_step);
      ctx.optimizer.set_lr(lr);
      ctx.optimizer.zero_grad();
    }
    // Accuracy counts a hit on the label with the larger weight: the only label, unmixed.
    // Mixup/cutmix: soft targets, label smoothing applied to each one-hot first (timm).
    const bool mixed = !b.mix_labels.empty();
    const std::vector<int> scored =
        mixed ? data::dominant_labels(b.labels, b.mix_labels, b.mix_lambda) : b.labels;  // [B]
    const int n_local = static_cast<int>(scored.size());
    Tensor targets;  // [B, K] when mixed
    float value = 0;  // the step's mean loss: the global batch's under data parallelism
    nn::TrainStepOptions so;
    so.label_smoothing = static_cast<float>(cfg.label_smoothing);
    // The gradients add up over the group: each batch contributes its mean loss / group.
    so.loss_scale = 1.0f / static_cast<float>(group);
    // Every rank judges (and reports) the global batch, and ends with its mean gradient.
    so.parallel = ctx.parallel;
    so.before_backward = [&](nn::TrainStepStats& st) {
      if (global_step == ctx.fault_nan_step) st.loss_value = std::numeric_limits<double>::quiet_NaN();
      value = static_cast<float>(st.loss_value);
      if (!std::isfinite(value))
        throw NonFiniteLoss("the loss is " + std::string(std::isnan(value) ? "NaN" : "infinite") + " at epoch " +
                                std::to_string(epoch + 1) + ", batch " + std::to_string(i + 1) + " of " +
                                std::to_string(batches) + " (global step " + std::to_string(global_step) +
                                "): training diverged",
                            epoch + 1, global_step);
    };
    if (mixed) {
      const int k = ctx.loader.num_classes();
      targets = Tensor::from_vector(
          data::mixed_targets(b.labels, b.mix_labels, b.mix_lambda, k, cfg.label_smoothing), {n_local, k});
    }
    const nn::TrainStepStats st =
        nn::train_step(ctx.model, b.images, std::vector<int32_t>(scored.begin(), scored.end()), targets, so);
    if (group_ends) {
      if (frozen)  // no gradient: the optimiser skips the parameter, as PyTorch does for requires_grad=False
        for (size_t p : ctx.pretrained) Tensor(ctx.optimizer.params()[p].second).zero_grad();
      if (cfg.clip_grad > 0) {  // the accumulated gradient is what is clipped
        const bool by_norm = cfg.clip_mode == "norm";
        grad_norm = nn::clip_grad_norm(ctx.optimizer.params(), by_norm ? cfg.clip_grad : HUGE_VAL);
        if (!by_norm) nn::clip_grad_value(ctx.optimizer.params(), cfg.clip_grad);
        grad_norm_sum += grad_norm;
      }
      ctx.optimizer.step();
      if (ctx.ema) ctx.ema->update(ctx.model, global_step);
      ++global_step;
      r.steps++;
    }

    const int n = static_cast<int>(st.samples);
    correct += static_cast<long long>(st.correct);
    loss_sum += static_cast<double>(value) * n;
    r.samples += n;
    r.batches++;
    r.wait_seconds += b.wait_seconds;
    r.lr = lr;

    const double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    BatchProgress p;
    p.epoch = epoch + 1;
    p.epochs = cfg.epochs;
    p.batch = i + 1;
    p.batches = batches;
    p.loss = loss_sum / r.samples;
    p.accuracy = static_cast<double>(correct) / r.samples;
    p.images_per_second = r.samples / std::max(elapsed, 1e-9);
    p.lr = lr;
    p.wait_ms = 1e3 * r.wait_seconds / r.batches;
    p.eta_seconds = elapsed / r.batches * (batches - r.batches);
    if (ctx.progress.update(p) || (ctx.progress.tty() && (p.batch % cfg.log_interval == 0 || p.batch == batches)))
      ctx.log.file_line(format_batch_line(p));
    if (p.batch % cfg.log_interval == 0 || p.batch == batches) {
      nlohmann::json fields = {{"epoch", p.epoch}, {"batch", p.batch}, {"batches", batches},
                               {"global_step", global_step}, {"steps", r.steps}, {"loss", p.loss}, {"accuracy", p.accuracy},
                               {"images_per_second", p.images_per_second}, {"lr", lr}, {"wait_ms", p.wait_ms}};
      if (cfg.clip_grad > 0) fields["grad_norm"] = grad_norm;
      ctx.log.event("batch", std::move(fields));
    }
  }
  ctx.progress.end_epoch();
  if (r.samples > 0) {
    r.loss = loss_sum / r.samples;
    r.accuracy = static_cast<double>(correct) / r.samples;
  }
  if (r.steps > 0) r.grad_norm = grad_norm_sum / r.steps;
  return r;
}

}  // namespace hsanet::train
