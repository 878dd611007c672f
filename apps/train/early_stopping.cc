#include "apps/train/early_stopping.h"

#include <fmt/format.h>

namespace hsanet::train {

int epochs_without_improvement(const History& history, const std::string& monitor, double min_delta, bool ema) {
  const bool by_loss = monitor == "val_loss";
  int stale = 0;
  double best = 0;
  for (size_t i = 0; i < history.size(); ++i) {
    const double v = monitored_value(history[i], monitor, ema);
    const bool improved = i == 0 || (by_loss ? v < best - min_delta : v > best + min_delta);
    if (improved) {
      best = v;
      stale = 0;
    } else {
      ++stale;
    }
  }
  return stale;
}

std::string early_stop_reason(const History& history, int patience, const std::string& monitor, double min_delta,
                              bool ema) {
  if (patience <= 0 || history.empty()) return "";
  const int stale = epochs_without_improvement(history, monitor, min_delta, ema);
  if (stale < patience) return "";
  return fmt::format("early stopping: {}{} has not improved by more than {} for {} epochs (--patience {})",
                     ema ? "the EMA's " : "", monitor, min_delta, stale, patience);
}

}  // namespace hsanet::train
