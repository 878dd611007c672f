#include "ops/parallel.h"

#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace hsanet::ops {

namespace {

std::atomic<bool> g_flush{false};

// MXCSR bits: FTZ (15) writes denormal results as zero, DAZ (6) reads denormal inputs as zero.
constexpr unsigned kFlushBits = 0x8040;

void apply_flush_here(bool on) {
#if defined(__x86_64__) || defined(__i386__)
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? (csr | kFlushBits) : (csr & ~kFlushBits));
#else
  (void)on;
#endif
}

}  // namespace

int num_threads() { return omp_get_max_threads(); }

// oneDNN (built on OpenMP here) follows omp_set_num_threads, so one call sets both. New pool
// threads start with the default MXCSR, so the denormal setting is applied again.
void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
  if (g_flush.load()) flush_denormals(true);
}

void flush_denormals(bool on) {
  g_flush.store(on);
  apply_flush_here(on);
  // libgomp keeps its worker threads between parallel regions of up to this size, and oneDNN
  // runs on the same pool: setting each worker's (per-thread) MXCSR once covers every kernel.
#pragma omp parallel num_threads(omp_get_max_threads())
  apply_flush_here(on);
}

bool denormals_flushed() {
#if defined(__x86_64__) || defined(__i386__)
  return (_mm_getcsr() & kFlushBits) == kFlushBits;
#else
  return false;
#endif
}

}  // namespace hsanet::ops
