// Early stopping (--patience N --min-delta D --monitor val_loss|val_acc), as Keras's
// EarlyStopping and Lightning's callback do it: a run stops once the monitored validation value
// has not improved by more than D for N epochs in a row. The state is the history itself, so a
// resumed run judges exactly as an uninterrupted one would.
#pragma once

#include <string>

#include "apps/train/history.h"

namespace hsanet::train {

// Epochs since the last improvement: 0 right after the best epoch so far. An epoch improves when
// its value beats the best before it by more than min_delta (lower val_loss, higher val_acc).
// `ema`: the moving average's values (--select-by ema) instead of the raw model's.
int epochs_without_improvement(const History& history, const std::string& monitor, double min_delta,
                               bool ema = false);

// Empty while the run should go on; else why it stops, for the log and report.json.
std::string early_stop_reason(const History& history, int patience, const std::string& monitor, double min_delta,
                              bool ema = false);

}  // namespace hsanet::train
