// CUDA_CHECK(call): every CUDA runtime call in hsanet goes through it. A failure throws
// std::runtime_error naming the call, its file and line, and the runtime's own message, e.g.
//   "CUDA error at src/ops/cuda/device_buffer.cu:31: cudaMalloc(&ptr, bytes): out of memory"
// Kernel launches report through CUDA_CHECK(cudaGetLastError()) right after them.
#pragma once

#include <stdexcept>
#include <string>

namespace hsanet::ops::cuda_detail {

[[noreturn]] inline void throw_cuda_error(const char* message, const char* call, const char* file,
                                          int line) {
  throw std::runtime_error(std::string("CUDA error at ") + file + ":" + std::to_string(line) +
                           ": " + call + ": " + message);
}

}  // namespace hsanet::ops::cuda_detail

// Uses cudaError_t, cudaSuccess and cudaGetErrorString from <cuda_runtime.h> (or the emulation).
#define CUDA_CHECK(call)                                                                \
  do {                                                                                  \
    const auto hsanet_cuda_status_ = (call);                                            \
    if (hsanet_cuda_status_ != cudaSuccess)                                             \
      ::hsanet::ops::cuda_detail::throw_cuda_error(cudaGetErrorString(hsanet_cuda_status_), \
                                                   #call, __FILE__, __LINE__);          \
  } while (0)
