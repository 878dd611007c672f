// Threading helpers shared by the kernels: OpenMP (GNU libgomp, the runtime oneDNN uses).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace hsanet::ops {

// Arrays shorter than this run on one thread: waking the team costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// Calls fn(begin, end) over [0, n) in contiguous chunks, one per thread when n is large.
// Chunk boundaries are multiples of 64 elements so vector loops see aligned starts.
template <typename Fn>
void parallel_chunks(int64_t n, Fn&& fn) {
  if (n < kParallelGrain || omp_get_max_threads() == 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    int64_t per = (n + nt - 1) / nt;
    per = (per + 63) / 64 * 64;
    const int64_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (b < e) fn(b, e);
  }
}

int num_threads();          // omp_get_max_threads()
void set_num_threads(int);  // also the thread count oneDNN uses

// Denormal floats (below 1.2e-38) take a microcode slow path on x86, up to ~100x slower per
// operation; late in training they can appear in gradients and momentum buffers. With `on`,
// the calling thread and every OpenMP worker treat them as zero (MXCSR's FTZ and DAZ bits),
// as torch.set_flush_denormal(True) does; set_num_threads keeps the setting for new workers.
// No-op on other architectures.
void flush_denormals(bool on);
bool denormals_flushed();  // on the calling thread

}  // namespace hsanet::ops
