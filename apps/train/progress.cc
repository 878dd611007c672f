#include "apps/train/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace hsanet::train {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

std::string format_batch_line(const BatchProgress& p) {
  char buf[256];
  const int w = static_cast<int>(std::to_string(p.batches).size());
  std::snprintf(buf, sizeof buf, "epoch %d/%d [%*d/%d] loss %.4f acc %5.1f%% %.1f img/s lr %.6f wait %.0f ms ETA %s",
                p.epoch, p.epochs, w, p.batch, p.batches, p.loss, 100 * p.accuracy, p.images_per_second,
                p.lr, p.wait_ms, format_duration(p.eta_seconds).c_str());
  return buf;
}

bool ProgressLine::update(const BatchProgress& p) {
  if (tty_) {
    // \033[K clears what a longer previous line left to the right.
    out_ << "\r" << format_batch_line(p) << "\033[K" << std::flush;
    live_ = true;
    return false;
  }
  if (p.batch % interval_ != 0 && p.batch != p.batches) return false;
  out_ << format_batch_line(p) << "\n" << std::flush;
  return true;
}

void ProgressLine::end_epoch() {
  if (live_) out_ << "\r\033[K" << std::flush;
  live_ = false;
}

}  // namespace hsanet::train
