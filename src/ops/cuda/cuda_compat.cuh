// What the CUDA sources of the attention backend see of CUDA: the real runtime under nvcc, or
// the CPU emulation (emulation.h) when a test compiles them as plain C++ with
// HSANET_CUDA_EMULATION defined. The two builds live in different namespaces (HSANET_CUDA_NS)
// so that a test program may hold both without clashing definitions.
#pragma once

#ifdef HSANET_CUDA_EMULATION
#include "ops/cuda/emulation.h"
#define HSANET_CUDA_NS cuda_emulated
namespace hsanet::ops::HSANET_CUDA_NS {
using namespace ::hsanet::cuda_emu;
}
// kernel<<<grid, block, 0, stream>>>(args...)
#define HSANET_LAUNCH(kernel, grid, block, stream, ...) \
  ::hsanet::cuda_emu::launch((grid), (block), (kernel), __VA_ARGS__)
#define HSANET_UNROLL
#else
#include <cuda_runtime.h>
#define HSANET_CUDA_NS cuda_device
#define HSANET_LAUNCH(kernel, grid, block, stream, ...) \
  kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#define HSANET_UNROLL _Pragma("unroll")
#endif

#include "ops/cuda/cuda_check.h"
