#include "nn/plateau.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace hsanet::nn {

ReduceLrOnPlateau::ReduceLrOnPlateau(const PlateauOptions& options, double lr)
    : opt_(options), lr_(lr),
      best_(options.maximize ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity()) {
  if (!(options.factor > 0 && options.factor < 1)) throw std::invalid_argument("plateau factor must be in (0, 1)");
  if (options.patience < 0) throw std::invalid_argument("plateau patience must be >= 0");
}

bool ReduceLrOnPlateau::step(double value) {
  const bool improved = opt_.maximize ? value > best_ * (1 + opt_.threshold) : value < best_ * (1 - opt_.threshold);
  if (improved) {
    best_ = value;
    bad_ = 0;
  } else {
    ++bad_;
  }
  if (bad_ <= opt_.patience) return false;
  bad_ = 0;
  const double cut = std::max(lr_ * opt_.factor, opt_.min_lr);
  if (lr_ - cut <= 1e-8) return false;  // PyTorch's eps: a cut too small to matter is skipped
  lr_ = cut;
  return true;
}

}  // namespace hsanet::nn
