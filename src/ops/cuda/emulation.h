// A CPU emulation of the small part of CUDA that the attention kernels use, so that the kernels
// and the host code that launches them can be tested on machines without a GPU (CI has none).
//
// Included instead of <cuda_runtime.h> when HSANET_CUDA_EMULATION is defined (cuda_compat.cuh),
// by tests only. What it models:
//   - a launch runs its blocks one after another; a block's threads are fibers (ucontext) on the
//     calling thread, switched only at __syncthreads(), so the run is deterministic;
//   - __shared__ arrays become `static` locals: one copy, shared by the fibers of the running block;
//   - the fibers of a block run in forward order up to a barrier, then in reverse order up to the
//     next one. A kernel that reads shared or global data before the barrier that should protect
//     it, or overwrites data another thread has yet to read, then reads wrong values and the
//     comparison with the reference fails: the emulation is deliberately unkind to missing
//     __syncthreads();
//   - a barrier that only part of a block reaches aborts with a message (undefined on a GPU);
//   - launch limits (1024 threads a block, grid.y and grid.z <= 65535) give the error a GPU gives;
//   - device memory is host memory; cudaMallocAsync adds guard bytes that cudaFreeAsync checks,
//     so a kernel that writes past its scratch buffer aborts.
// What it does not model: warps (no shuffles or warp votes: the kernels use none), the memory
// model between blocks, timing, shared-memory capacity.
#pragma once

#include <ucontext.h>

#include <math.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

namespace hsanet::cuda_emu {

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

using cudaStream_t = struct EmulatedStream*;

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
  }
  return "unknown error";
}

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "CUDA emulation: %s\n", what);
  std::abort();
}

// The sticky "last error" of the runtime: set by a bad launch, read and cleared by
// cudaGetLastError().
inline thread_local cudaError_t last_error = cudaSuccess;

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

// ---- memory ----------------------------------------------------------------------------------
constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;

// [guard][size_t bytes][payload][guard]: payload is 64-byte aligned like cudaMalloc's.
inline cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t) {
  if (!ptr) return cudaErrorInvalidValue;
  unsigned char* base = static_cast<unsigned char*>(
      std::aligned_alloc(64, (2 * kGuardBytes + bytes + 63) / 64 * 64 + 64));
  if (!base) fail("out of host memory");
  std::memcpy(base, &bytes, sizeof bytes);
  std::memset(base + sizeof bytes, kGuardByte, kGuardBytes - sizeof bytes);
  std::memset(base + kGuardBytes + bytes, kGuardByte, kGuardBytes);
  // Fill the payload with NaN so a kernel that reads scratch it never wrote shows it.
  float* f = reinterpret_cast<float*>(base + kGuardBytes);
  for (size_t i = 0; i < bytes / sizeof(float); ++i) f[i] = NAN;
  *ptr = base + kGuardBytes;
  return cudaSuccess;
}

inline cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) {
  if (!ptr) return cudaSuccess;
  unsigned char* base = static_cast<unsigned char*>(ptr) - kGuardBytes;
  size_t bytes;
  std::memcpy(&bytes, base, sizeof bytes);
  for (size_t i = sizeof bytes; i < kGuardBytes; ++i)
    if (base[i] != kGuardByte) fail("a kernel wrote before the start of a device buffer");
  for (size_t i = 0; i < kGuardBytes; ++i)
    if (base[kGuardBytes + bytes + i] != kGuardByte)
      fail("a kernel wrote past the end of a device buffer");
  std::free(base);
  return cudaSuccess;
}

inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind,
                                   cudaStream_t) {
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}

// ---- execution -------------------------------------------------------------------------------
struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  dim3 thread_idx;
  bool done = false;
};

struct Launch {
  dim3 grid, block, block_idx;
  std::function<void()> body;  // one thread's run of the kernel
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  int current = 0;
};

inline thread_local Launch* active = nullptr;

inline Fiber& current_fiber() { return active->fibers[active->current]; }
inline const dim3& thread_idx() { return current_fiber().thread_idx; }
inline const dim3& block_idx() { return active->block_idx; }
inline const dim3& block_dim() { return active->block; }
inline const dim3& grid_dim() { return active->grid; }

// swapcontext is declared returns_twice (like setjmp), so callers would have to treat their
// locals as clobbered. A switch saves and resumes, returning once per resume: calling it through a
// function the compiler cannot see into keeps that assumption out of the scheduler loops.
[[gnu::noinline]] inline void switch_context(ucontext_t* from, ucontext_t* to) {
  if (swapcontext(from, to) != 0) fail("swapcontext failed");
}

inline void syncthreads() {
  if (!active) fail("__syncthreads() outside a kernel");
  switch_context(&current_fiber().context, &active->scheduler);
}

inline void fiber_main() {
  active->body();
  current_fiber().done = true;
  // Returning resumes uc_link: the scheduler.
}

// Points the fiber at the start of the kernel, on its own stack; returning resumes `scheduler`.
// (getcontext is returns_twice too: kept out of the scheduler's frame like swapcontext.)
[[gnu::noinline]] inline void start_fiber(Fiber& f, size_t stack_bytes, ucontext_t* scheduler) {
  f.done = false;
  if (getcontext(&f.context) != 0) fail("getcontext failed");
  f.context.uc_stack.ss_sp = f.stack.get();
  f.context.uc_stack.ss_size = stack_bytes;
  f.context.uc_link = scheduler;
  makecontext(&f.context, fiber_main, 0);
}

// Runs kernel(args...) over grid x block, as kernel<<<grid, block>>>(args...) would.
template <typename... Params, typename... Args>
void launch(dim3 grid, dim3 block, void (*kernel)(Params...), Args&&... args) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (active) fail("a kernel launched another kernel");
  constexpr size_t kStack = 256 * 1024;
  Launch run;
  run.grid = grid;
  run.block = block;
  run.body = [&] { kernel(args...); };
  run.fibers.resize(threads);
  for (auto& f : run.fibers) f.stack.reset(new char[kStack]);
  for (unsigned t = 0; t < threads; ++t)
    run.fibers[t].thread_idx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
  active = &run;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        run.block_idx = dim3(bx, by, bz);
        for (auto& f : run.fibers) start_fiber(f, kStack, &run.scheduler);
        // Phases between barriers; odd phases run the threads in reverse order.
        for (int phase = 0;; ++phase) {
          for (unsigned s = 0; s < threads; ++s) {
            const unsigned t = (phase & 1) ? threads - 1 - s : s;
            if (run.fibers[t].done) continue;
            run.current = int(t);
            switch_context(&run.scheduler, &run.fibers[t].context);
          }
          unsigned finished = 0;
          for (auto& f : run.fibers) finished += f.done ? 1 : 0;
          if (finished == threads) break;
          if (finished != 0) fail("__syncthreads() reached by only part of a block");
        }
      }
  active = nullptr;
}

}  // namespace hsanet::cuda_emu

// The CUDA keywords and built-in variables, for code compiled as plain C++.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __syncthreads() ::hsanet::cuda_emu::syncthreads()
#define threadIdx (::hsanet::cuda_emu::thread_idx())
#define blockIdx (::hsanet::cuda_emu::block_idx())
#define blockDim (::hsanet::cuda_emu::block_dim())
#define gridDim (::hsanet::cuda_emu::grid_dim())
