#include "apps/train/run_log.h"

#include <chrono>
#include <ostream>
#include <stdexcept>

namespace hsanet::train {

RunLog::RunLog(const std::string& dir, std::ostream& console)
    : console_(console),
      text_(dir + "/train.log", std::ios::app),
      json_(dir + "/log.jsonl", std::ios::app) {
  if (!text_ || !json_) throw std::runtime_error("cannot open the logs in '" + dir + "'");
}

void RunLog::line(const std::string& text) {
  console_ << text << "\n" << std::flush;
  file_line(text);
}

void RunLog::file_line(const std::string& text) { text_ << text << "\n" << std::flush; }

void RunLog::event(const std::string& name, nlohmann::json fields) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json j = {{"event", name}, {"time", now}};
  j.update(fields);
  json_ << j.dump() << "\n" << std::flush;
}

}  // namespace hsanet::train
