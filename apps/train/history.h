// The per-epoch record of a run: one EpochRecord per completed epoch. It lives in the training
// checkpoint (full precision, so a resumed run continues from exactly what it had) and is
// rewritten to metrics.csv after every epoch, which makes the file always hold exactly the
// completed epochs: no duplicate rows after a resume.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hsanet::train {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_acc = 0;
  double val_loss = 0, val_acc = 0;
  double lr = 0;       // the epoch's learning rate (after warm-up)
  double seconds = 0;  // wall time of the epoch: training and validation
  // Share of validation images whose true identity is among the five highest logits. NaN when
  // unknown: epochs recorded before the column existed (an older metrics.csv or checkpoint).
  double val_top5 = std::numeric_limits<double>::quiet_NaN();
  // With --ema: the moving average's validation loss and accuracy; NaN without it.
  double ema_val_loss = std::numeric_limits<double>::quiet_NaN();
  double ema_val_acc = std::numeric_limits<double>::quiet_NaN();
};

using History = std::vector<EpochRecord>;

// "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5": the PyTorch peer's seven
// columns, then top-5 validation accuracy ("nan" when unknown), and, when an epoch has them (a
// run with --ema), ",ema_val_loss,ema_val_acc"; written crash-safely.
void write_metrics_csv(const std::string& path, const History& history);
// Reads a metrics.csv: ours (8 columns, or 10 with the EMA's), an older one of ours or the peer's
// (seven columns: val_top5 is then NaN); throws std::runtime_error naming the file and line.
History read_metrics_csv(const std::string& path);

nlohmann::json history_to_json(const History& history);
History history_from_json(const nlohmann::json& j);

// The value --monitor names (val_loss or val_acc), of the raw model or (ema) of the average.
double monitored_value(const EpochRecord& r, const std::string& monitor, bool ema);

// Mean and maximum of val_acc over the epochs, and the (1-based) epoch of the first maximum.
struct ValSummary {
  double avg = 0, max = 0;
  int max_epoch = 0;
};
ValSummary summarize_val(const History& history);

}  // namespace hsanet::train
