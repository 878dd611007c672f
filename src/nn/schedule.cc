#include "nn/schedule.h"

#include <cmath>
#include <stdexcept>

namespace hsanet::nn {

LrSchedule::LrSchedule(const ScheduleOptions& opt, int epochs) : opt_(opt), epochs_(epochs) {
  if (opt.kind != "cosine" && opt.kind != "step" && opt.kind != "constant" && opt.kind != "plateau")
    throw std::invalid_argument("unknown schedule '" + opt.kind + "' (cosine, step, constant or plateau)");
  if (!(opt.base_lr > 0)) throw std::invalid_argument("learning rate must be positive");
  if (opt.alpha < 0 || opt.alpha > 1) throw std::invalid_argument("cosine alpha must be in [0, 1]");
  if (opt.step_size < 1) throw std::invalid_argument("step size must be at least 1 epoch");
  if (opt.warmup_steps < 0) throw std::invalid_argument("warm-up steps must be >= 0");
  if (epochs < 1) throw std::invalid_argument("epochs must be at least 1");
}

float LrSchedule::lr(int epoch, long long global_step) const {
  double v = opt_.base_lr;
  if (opt_.kind == "cosine") {
    const double t = epochs_ > 1 ? static_cast<double>(epoch) / (epochs_ - 1) : 0.0;
    v *= opt_.alpha + (1.0 - opt_.alpha) * 0.5 * (1.0 + std::cos(M_PI * t));
  } else if (opt_.kind == "step") {
    v *= std::pow(static_cast<double>(opt_.gamma), epoch / opt_.step_size);
  }
  if (opt_.warmup_steps > 0 && global_step < opt_.warmup_steps)
    v *= static_cast<double>(global_step + 1) / opt_.warmup_steps;
  return static_cast<float>(v);
}

}  // namespace hsanet::nn
