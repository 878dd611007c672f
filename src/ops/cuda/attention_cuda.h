// The attention core (ops/attention.h) on an NVIDIA GPU. A plain C++ header: callers need no CUDA
// headers, and in a build without CUDA every entry point throws
// "hsanet was built without CUDA (configure with -DHSANET_CUDA=ON)" (cuda_stub.cc).
//
// Same AttentionDims and argument conventions as attention_forward / attention_backward, but
// every pointer is a DEVICE pointer (DeviceBuffer::data()). The calls queue their kernels on the
// default stream and return before they finish: cuda_synchronize() waits (the synchronous copies
// of DeviceBuffer wait too). Results are bitwise reproducible: no atomics, fixed summation order.
// For host pointers use attention_forward_on / attention_backward_on (ops/attention_device.h).
#pragma once

#include <string>

#include "ops/attention.h"
#include "ops/cuda/device_buffer.h"

namespace hsanet::ops {

// True when hsanet was built with CUDA and the runtime sees at least one device.
bool cuda_available();
// Why cuda_available() is false ("hsanet was built without CUDA ...", "no CUDA device: ...");
// empty when it is true.
std::string cuda_unavailable_reason();
// "NVIDIA H200 (compute capability 9.0, 139.8 GiB, 132 multiprocessors)"; throws when none.
std::string cuda_device_name();

// Forward. q, k, v: [B, N, ld]; rel_h: [rel_rows_h, d]; rel_w: [rel_rows_w, d];
// out: [B, N, ld_out]; probs: [B, heads, N, keys] or null (no backward to follow).
void attention_forward_cuda(const AttentionDims& dims, const float* q, const float* k,
                            const float* v, const float* rel_h, const float* rel_w, float* out,
                            float* probs);

// Backward. probs is required (what the forward wrote). Overwrites the first C channels of each
// row of dq, dk, dv, and all of drel_h, drel_w; any of them may be null.
void attention_backward_cuda(const AttentionDims& dims, const float* q, const float* k,
                             const float* v, const float* rel_h, const float* rel_w,
                             const float* probs, const float* dout, float* dq, float* dk,
                             float* dv, float* drel_h, float* drel_w);

}  // namespace hsanet::ops
