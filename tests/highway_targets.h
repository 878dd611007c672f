// Runs a test body once per SIMD target compiled into the Highway kernels and supported by this
// CPU (AVX-512, AVX2, SSE4, ...): dynamic dispatch would otherwise only ever test the best one.
#pragma once

#include <gtest/gtest.h>

#include "hwy/highway.h"
#include "hwy/targets.h"

namespace hsanet::testing {

template <class Fn>
void for_each_target(Fn body) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace hsanet::testing
