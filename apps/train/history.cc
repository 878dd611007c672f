#include "apps/train/history.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"

namespace hsanet::train {

namespace {
const char* kHeader = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5";
const size_t kOldColumns = 7;  // before val_top5 (and the PyTorch peer's)
const char* kEmaColumns = ",ema_val_loss,ema_val_acc";

bool has_ema(const History& history) {
  for (const EpochRecord& r : history)
    if (std::isfinite(r.ema_val_acc)) return true;
  return false;
}

void append_number(std::string& text, double v) {
  char cell[64];
  std::snprintf(cell, sizeof cell, ",%.6f", v);
  text += std::isfinite(v) ? cell : ",nan";
}
}  // namespace

double monitored_value(const EpochRecord& r, const std::string& monitor, bool ema) {
  if (monitor == "val_loss") return ema ? r.ema_val_loss : r.val_loss;
  return ema ? r.ema_val_acc : r.val_acc;
}

void write_metrics_csv(const std::string& path, const History& history) {
  const bool ema = has_ema(history);
  std::string text = std::string(kHeader) + (ema ? kEmaColumns : "") + "\n";
  char line[256];
  for (const EpochRecord& r : history) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.8f,%.2f,", r.epoch, r.train_loss,
                  r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds);
    text += line;
    if (std::isfinite(r.val_top5)) {
      std::snprintf(line, sizeof line, "%.6f", r.val_top5);
      text += line;
    } else {
      text += "nan";
    }
    if (ema) append_number(text, r.ema_val_loss), append_number(text, r.ema_val_acc);
    text += '\n';
  }
  io::write_file_atomically(path, text);
}

History read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::string line;
  if (!std::getline(in, line) || line.rfind("epoch,train_loss,train_acc,val_loss,val_acc", 0) != 0)
    throw std::runtime_error(path + ": line 1 is not the header '" + kHeader + "'");
  // The header says how many columns every row has: 7 (older files, the peer's) or 8.
  const size_t columns = line.find(kEmaColumns) != std::string::npos ? kOldColumns + 3
                         : line.find(",val_top5") != std::string::npos ? kOldColumns + 1
                                                                       : kOldColumns;
  History h;
  int number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") continue;
    std::istringstream ss(line);
    std::string cell;
    std::vector<double> v;
    while (std::getline(ss, cell, ',')) {
      try {
        size_t used = 0;
        v.push_back(std::stod(cell, &used));
      } catch (const std::exception&) {
        throw std::runtime_error(path + ":" + std::to_string(number) + ": '" + cell + "' is not a number");
      }
    }
    if (v.size() != columns)
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected " + std::to_string(columns) +
                               " columns (as the header), found " + std::to_string(v.size()));
    EpochRecord r{static_cast<int>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6]};
    if (columns > kOldColumns) r.val_top5 = v[7];
    if (columns > kOldColumns + 1) r.ema_val_loss = v[8], r.ema_val_acc = v[9];
    h.push_back(r);
  }
  return h;
}

nlohmann::json history_to_json(const History& history) {
  nlohmann::json j = nlohmann::json::array();
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const EpochRecord& r : history) {
    nlohmann::json row = {r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds,
                          number(r.val_top5)};
    if (std::isfinite(r.ema_val_acc)) row.push_back(number(r.ema_val_loss)), row.push_back(number(r.ema_val_acc));
    j.push_back(row);
  }
  return j;
}

History history_from_json(const nlohmann::json& j) {
  History h;
  for (const auto& row : j) {
    // 7 numbers (checkpoints written before val_top5), or 8 with val_top5 null when unknown, or
    // 10 with the EMA's validation loss and accuracy.
    if (!row.is_array() || (row.size() != kOldColumns && row.size() != kOldColumns + 1 &&
                            row.size() != kOldColumns + 3))
      throw std::runtime_error("history rows must hold 7, 8 or 10 numbers");
    EpochRecord r{row[0].get<int>(), row[1].get<double>(), row[2].get<double>(), row[3].get<double>(),
                  row[4].get<double>(), row[5].get<double>(), row[6].get<double>()};
    if (row.size() > kOldColumns && row[7].is_number()) r.val_top5 = row[7].get<double>();
    if (row.size() > kOldColumns + 1 && row[8].is_number()) r.ema_val_loss = row[8].get<double>();
    if (row.size() > kOldColumns + 2 && row[9].is_number()) r.ema_val_acc = row[9].get<double>();
    h.push_back(r);
  }
  return h;
}

ValSummary summarize_val(const History& history) {
  ValSummary s;
  if (history.empty()) return s;
  s.max = -1;
  for (const EpochRecord& r : history) {
    s.avg += r.val_acc / history.size();
    if (r.val_acc > s.max) s.max = r.val_acc, s.max_epoch = r.epoch;
  }
  return s;
}

}  // namespace hsanet::train
