#include "apps/train/plateau_lr.h"

#include "nn/plateau.h"

namespace hsanet::train {

std::vector<double> plateau_lrs(const History& history, const TrainConfig& cfg) {
  nn::PlateauOptions o;
  o.maximize = cfg.monitor == "val_acc";
  o.factor = cfg.plateau_factor;
  o.patience = cfg.plateau_patience;
  o.min_lr = cfg.plateau_min_lr;
  nn::ReduceLrOnPlateau rule(o, cfg.lr);
  std::vector<double> lrs{cfg.lr};  // [history.size() + 1]
  for (const EpochRecord& r : history) {
    rule.step(monitored_value(r, cfg.monitor, cfg.select_by == "ema"));
    lrs.push_back(rule.lr());
  }
  return lrs;
}

}  // namespace hsanet::train
