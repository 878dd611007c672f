// Where the attention core runs (the rest of the network always runs on the CPU): each call names
// its device -- a model carries it (ModelConfig::attention_device, each MHSA's option), nothing
// about it is a process-wide setting -- and host-pointer entry points run it there. For cuda they copy the inputs to
// the device, run the kernels and copy the results back: explicit copies, each one counted and
// timed (attention_transfer_stats) so that tools can show what the GPU costs in traffic.
#pragma once

#include <cstdint>
#include <string_view>

#include "ops/attention.h"

namespace hsanet::ops {

enum class Device { cpu, cuda };

// "cpu" -> cpu, "cuda" -> cuda; anything else throws std::invalid_argument listing the choices.
Device parse_device(std::string_view name);
const char* device_name(Device device);  // "cpu" / "cuda"

// Throws std::runtime_error saying why the device cannot be used ("hsanet was built without CUDA
// (configure with -DHSANET_CUDA=ON)", "no CUDA device: ..."); cpu always can. A tool calls it
// for the device it was asked for, so that it fails at startup rather than at the first call.
void require_device(Device device);

// Host <-> device traffic of the cuda entry points below since the last reset (all threads).
struct AttentionTransferStats {
  int64_t calls = 0;                // forward and backward calls on cuda
  int64_t bytes_to_device = 0;
  int64_t bytes_to_host = 0;
  double seconds_to_device = 0;     // wall time of the host -> device copies
  double seconds_to_host = 0;       // wall time of the device -> host copies
  double seconds_compute = 0;       // wall time from the first kernel launch to its completion
};
AttentionTransferStats attention_transfer_stats();
void reset_attention_transfer_stats();
// The cuda path keeps its device buffers between calls (same shapes each step); this frees them.
void release_attention_device_buffers();

// attention_forward / attention_backward (ops/attention.h), same arguments (HOST pointers), run on
// `device`. On cuda, calls are serialised (they share the device buffers).
void attention_forward_on(Device device, const AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs);
void attention_backward_on(Device device, const AttentionDims& dims, const float* q,
                           const float* k, const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w);

}  // namespace hsanet::ops
