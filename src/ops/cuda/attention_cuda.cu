// The CUDA entry points of the attention core: device checks, then attention_plan.cuh on the
// default stream.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/attention_plan.cuh"

namespace hsanet::ops {

bool cuda_available() { return cuda_unavailable_reason().empty(); }

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // leave no sticky error behind for the next caller
    return std::string("no CUDA device: cudaGetDeviceCount failed: ") + cudaGetErrorString(status);
  }
  if (count == 0) return "no CUDA device: the CUDA runtime sees none";
  return "";
}

std::string cuda_device_name() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  char text[320];
  std::snprintf(text, sizeof text, "%s (compute capability %d.%d, %.1f GiB, %d multiprocessors)",
                prop.name, prop.major, prop.minor,
                double(prop.totalGlobalMem) / double(int64_t(1) << 30), prop.multiProcessorCount);
  return text;
}

// The plan's scratch comes from the stream-ordered allocator. By default its pool hands memory
// back to the driver at every synchronisation, which would make every call allocate afresh; keep
// it instead (it is reused by the next call of the same size).
static void keep_scratch_pool() {
  static std::once_flag once;
  std::call_once(once, [] {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    cudaMemPool_t pool;
    CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep = UINT64_MAX;
    CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  });
}

void attention_forward_cuda(const AttentionDims& dims, const float* q, const float* k,
                            const float* v, const float* rel_h, const float* rel_w, float* out,
                            float* probs) {
  keep_scratch_pool();
  cuda_device::run_forward(dims, q, k, v, rel_h, rel_w, out, probs, cudaStream_t{});
}

void attention_backward_cuda(const AttentionDims& dims, const float* q, const float* k,
                             const float* v, const float* rel_h, const float* rel_w,
                             const float* probs, const float* dout, float* dq, float* dk,
                             float* dv, float* drel_h, float* drel_w) {
  keep_scratch_pool();
  cuda_device::run_backward(dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w,
                            cudaStream_t{});
}

}  // namespace hsanet::ops
