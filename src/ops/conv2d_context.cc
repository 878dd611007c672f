#include "ops/conv2d_context.h"

namespace hsanet::ops::detail {

Conv2dCacheStats Conv2dContext::stats() const {
  Conv2dCacheStats st = counters;
  st.cached_weights = weights.live();
  return st;
}

void Conv2dContext::clear() {
  onednn.clear();
  gemm.clear();
  weights.clear();
  scratch.clear();
}

Conv2dContext& default_conv2d_context() {
  static Conv2dContext context;
  return context;
}

}  // namespace hsanet::ops::detail
