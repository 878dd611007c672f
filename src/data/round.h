// Rounding as the PyTorch reference's helper does it.
#pragma once

#include <cmath>

namespace hsanet::data {

// floor(x + 0.5): halves go up. (Python's round() sends halves to even; the reference's
// round_half_up, used for the split size and the centre crop, does not.)
inline int round_half_up(double x) { return static_cast<int>(std::floor(x + 0.5)); }

}  // namespace hsanet::data
