// Learning-rate schedules, evaluated per epoch (as the paper's recipe and the PyTorch peer do),
// with an optional linear warm-up over the first steps.
#pragma once

#include <string>

namespace hsanet::nn {

struct ScheduleOptions {
  std::string kind = "cosine";  // cosine | step | constant | plateau (constant here: the caller
                                // sets base_lr per epoch from the validation values, plateau.h)
  float base_lr = 0.005f;
  float alpha = 0.25f;          // cosine: final lr = alpha * base_lr
  int step_size = 10;           // step: multiply by gamma every step_size epochs
  float gamma = 0.1f;
  int warmup_steps = 0;         // linear ramp from base_lr / warmup_steps over these steps
};

class LrSchedule {
 public:
  LrSchedule(const ScheduleOptions& opt, int epochs);
  // Learning rate for a step inside an epoch (epoch in [0, epochs); global_step counts from 0).
  //   cosine:   lr_e = base (alpha + (1 - alpha)(1 + cos(pi e / (E - 1))) / 2)  (first: base,
  //             last: alpha * base)
  //   step:     lr_e = base * gamma^floor(e / step_size)
  //   constant, plateau: base
  // During warm-up the value is scaled by (global_step + 1) / warmup_steps.
  float lr(int epoch, long long global_step) const;
  const ScheduleOptions& options() const { return opt_; }

 private:
  ScheduleOptions opt_;
  int epochs_;
};

}  // namespace hsanet::nn
