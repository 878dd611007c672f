// A test hook for crash recovery: counts the durable writes a run makes (config.json, classes.txt,
// split.csv, then per epoch metrics.csv, last and best, then the reports) and stops the run right
// after the N-th, as a kill at that moment would. Every write is atomic (io/atomic_file.h), so a
// kill in the middle of one leaves what a kill just before it leaves; these N cover every case.
#pragma once

#include <stdexcept>
#include <string>

namespace hsanet::train {

// Thrown by WritePoints::wrote at the chosen write; cpu_train then ends as if it were killed.
class SimulatedCrash : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class WritePoints {
 public:
  explicit WritePoints(int stop_after = 0) : stop_after_(stop_after) {}
  // Call after each durable write.
  void wrote(const std::string& path) {
    if (++count_ == stop_after_)
      throw SimulatedCrash("stopped after write " + std::to_string(count_) + " (" + path + ") as asked");
  }
  int count() const { return count_; }

 private:
  int stop_after_;  // 0: never
  int count_ = 0;
};

}  // namespace hsanet::train
