#include "apps/train/history.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "nn/atomic_file.h"

namespace hsanet::train {

namespace {
const char* kHeader = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds";
}

void write_metrics_csv(const std::string& path, const History& history) {
  std::string text = std::string(kHeader) + "\n";
  char line[256];
  for (const EpochRecord& r : history) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.8f,%.2f\n", r.epoch, r.train_loss,
                  r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds);
    text += line;
  }
  write_file_atomically(path, text);
}

History read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::string line;
  if (!std::getline(in, line) || line.rfind("epoch,train_loss,train_acc,val_loss,val_acc", 0) != 0)
    throw std::runtime_error(path + ": line 1 is not the header '" + kHeader + "'");
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
    if (v.size() != 7)
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected 7 columns, found " +
                               std::to_string(v.size()));
    h.push_back({static_cast<int>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6]});
  }
  return h;
}

nlohmann::json history_to_json(const History& history) {
  nlohmann::json j = nlohmann::json::array();
  for (const EpochRecord& r : history)
    j.push_back({r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.lr, r.seconds});
  return j;
}

History history_from_json(const nlohmann::json& j) {
  History h;
  for (const auto& row : j) {
    if (!row.is_array() || row.size() != 7) throw std::runtime_error("history rows must hold 7 numbers");
    h.push_back({row[0].get<int>(), row[1].get<double>(), row[2].get<double>(), row[3].get<double>(),
                 row[4].get<double>(), row[5].get<double>(), row[6].get<double>()});
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
