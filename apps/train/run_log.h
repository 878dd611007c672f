// A run's logs: what the console shows, kept in RUN/train.log (plain text, no live progress
// lines), and RUN/log.jsonl, one JSON object per event ("start", "batch", "epoch", "checkpoint",
// "end", "error"), each with the wall-clock "time" in seconds since the epoch. Both files are
// appended to, so a resumed run continues them.
#pragma once

#include <fstream>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

namespace hsanet::train {

class RunLog {
 public:
  // `dir` must exist.
  RunLog(const std::string& dir, std::ostream& console);
  // No files: the ranks other than 0 of a data-parallel job, which write nothing.
  explicit RunLog(std::ostream& console) : console_(console) {}
  // To the console and train.log.
  void line(const std::string& text);
  // To train.log only (the console already showed it, e.g. as a progress line).
  void file_line(const std::string& text);
  // To log.jsonl; "event" is set to `name`.
  void event(const std::string& name, nlohmann::json fields = nlohmann::json::object());
  std::ostream& console() { return console_; }

 private:
  std::ostream& console_;
  std::ofstream text_;
  std::ofstream json_;
};

}  // namespace hsanet::train
