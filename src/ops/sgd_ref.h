// Scalar reference for ops::sgd_update: the textbook loop, templated on the number type.
#pragma once

#include <cstdint>

#include "ops/sgd.h"

namespace hsanet::ops::ref {

template <typename T>
void sgd_update(T* w, const T* g, T* buf, int64_t n, const SgdStep& s) {
  for (int64_t j = 0; j < n; ++j) {
    T d = g[j] + T(s.weight_decay) * w[j];
    if (s.momentum != 0.f) {
      buf[j] = s.first ? d : T(s.momentum) * buf[j] + (T(1) - T(s.dampening)) * d;
      d = s.nesterov ? d + T(s.momentum) * buf[j] : buf[j];
    }
    w[j] -= T(s.lr) * d;
  }
}

}  // namespace hsanet::ops::ref
