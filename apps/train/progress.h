// The progress of an epoch on the console: on a terminal one live line rewritten after every
// batch ("\r"); otherwise (a log file, a pipe) a plain line every `interval` batches and at the
// last one, so logs stay readable.
#pragma once

#include <iosfwd>
#include <string>

namespace hsanet::train {

struct BatchProgress {
  int epoch = 0, epochs = 0;     // 1-based epoch of `epochs`
  int batch = 0, batches = 0;    // 1-based batch of `batches` this epoch
  double loss = 0;               // running mean over the epoch so far
  double accuracy = 0;           // running top-1 accuracy over the epoch so far
  double images_per_second = 0;  // over the epoch so far
  double lr = 0;
  double wait_ms = 0;            // mean time a step waited for its batch
  double eta_seconds = 0;        // rest of this epoch's training
};

// "epoch 3/50 [ 17/78] loss 2.3456 acc 31.2% 12.3 img/s lr 0.004812 wait 3 ms ETA 0:41"
std::string format_batch_line(const BatchProgress& p);
// "41s", "3:07", "1:02:03"
std::string format_duration(double seconds);

class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool tty, int interval) : out_(out), tty_(tty), interval_(interval) {}
  // True when this batch printed a plain line (so the caller may also log it).
  bool update(const BatchProgress& p);
  // Clears the live line before the epoch's summary is printed.
  void end_epoch();
  bool tty() const { return tty_; }

 private:
  std::ostream& out_;
  bool tty_;
  int interval_;
  bool live_ = false;  // a live line is on screen
};

}  // namespace hsanet::train
