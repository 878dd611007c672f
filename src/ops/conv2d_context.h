// Everything the convolutions keep between calls, in one object: the cached oneDNN plans (both
// the convolution primitives and the matmuls), the weights made over into other layouts, the
// scratch buffers, and the counters that tests and benchmarks read through conv2d_cache_stats.
//
// The public entry points (conv2d.h) run on one process-wide instance, default_conv2d_context():
// the weight tensors that key the caches outlive any one call and are shared by every model in the
// process, so that is the owner today. Everything below conv2d.cc takes the context it works on
// as an argument and reaches no global of its own.
#pragma once

#include <mutex>

#include "ops/conv2d.h"
#include "ops/conv2d_gemm.h"
#include "ops/conv2d_onednn.h"
#include "ops/conv2d_scratch.h"
#include "ops/weight_cache.h"

namespace hsanet::ops::detail {

struct Conv2dContext {
  // Held by every entry point for the whole call. A convolution already uses every OpenMP thread,
  // so running two at once from different threads would only oversubscribe the cores; the lock
  // also protects the memories a plan re-points and the scratch slots.
  std::mutex mutex;
  OnednnPlans onednn;
  GemmPlans gemm;
  WeightCache weights;
  Conv2dScratch scratch;
  // Every counter but cached_weights, which stats() counts from `weights`. Never reset.
  Conv2dCacheStats counters;

  Conv2dCacheStats stats() const;
  // Drops every cached plan, weight copy and scratch buffer; an earlier Conv2dBlockedGradient
  // then reuses nothing.
  void clear();
};

// The instance conv2d.h's functions run on.
Conv2dContext& default_conv2d_context();

}  // namespace hsanet::ops::detail
