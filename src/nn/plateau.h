// The learning-rate rule of PyTorch's torch.optim.lr_scheduler.ReduceLROnPlateau, with its
// defaults threshold_mode "rel", threshold 1e-4, cooldown 0, eps 1e-8:
//   improved  = mode min: value < best (1 - threshold);  mode max: value > best (1 + threshold)
//   improved -> best = value, bad = 0;  else bad += 1
//   bad > patience -> lr = max(lr factor, min_lr) (kept when the cut is under eps), bad = 0
// It is fed one validation value per epoch. The state is small and follows from the values
// alone, so a caller may rebuild it by replaying a run's history.
#pragma once

namespace hsanet::nn {

struct PlateauOptions {
  bool maximize = false;    // mode max (accuracy) or min (loss)
  double factor = 0.1;
  int patience = 10;
  double threshold = 1e-4;  // relative
  double min_lr = 0.0;
};

class ReduceLrOnPlateau {
 public:
  ReduceLrOnPlateau(const PlateauOptions& options, double lr);
  // Takes an epoch's value; true when it cut the lr.
  bool step(double value);
  double lr() const { return lr_; }
  int bad_epochs() const { return bad_; }

 private:
  PlateauOptions opt_;
  double lr_;
  double best_;  // +inf (min) or -inf (max) before the first value
  int bad_ = 0;  // epochs since the last improvement
};

}  // namespace hsanet::nn
