// The convolutions that run on oneDNN's convolution primitives (the direct algorithm, and
// oneDNN's Winograd F(4x4, 3x3) on the 56x56 maps): the cached plans, the activation layouts and
// their blocked conversions, and the three passes. conv2d.cc decides when they run.
//
// Layouts. Activations are NHWC and oneDNN reads and writes them in place (memory format `nhwc`
// over the logical dims N, C, H, W), except oneDNN's Winograd, which reads and writes only
// nChw16c: its plans convert the NHWC input side in and the output side out through two scratch
// buffers (conv2d_scratch.h). Weights live in PyTorch's OIHW order in their Tensor; each
// primitive is created with format_tag::any for its weights and picks a blocked layout
// (OIhw16i16o and friends), so the weights are reordered into it -- once per weight version,
// through the WeightCache -- and the weight gradient comes back in the primitive's layout and is
// reordered to OIHW once per call.
//
// Plans. Creating a primitive descriptor and its primitive costs far more than small
// convolutions do (JIT code generation), so each (geometry, direction) gets one Plan, built on
// first use and reused. The forward_training descriptor is the hint for backward-data and
// backward-weights, as oneDNN requires for training.
#pragma once

#include <map>

#include <dnnl.hpp>

#include "ops/conv2d.h"
#include "ops/conv2d_plan_key.h"

namespace hsanet::ops::detail {

struct Conv2dContext;

struct Plan {
  dnnl::primitive conv;
  // Memories created once and re-pointed at each call's buffers with set_data_handle.
  dnnl::memory src, weights, bias, dst;  // roles by direction: see the passes in conv2d_onednn.cc
  dnnl::memory::desc prim_weight_md;     // the weight layout the primitive chose
  bool weights_plain = false;            // the primitive wants OIHW as is: no reorder needed
  dnnl::reorder weight_reorder;          // OIHW -> prim_weight_md (forward, backward-data), or
                                         // prim_weight_md -> OIHW (backward-weights)
  dnnl::memory user_weights;             // OIHW view of the caller's buffer
  dnnl::memory scratch_weights;          // backward-weights: the gradient in the primitive's layout
  // Winograd: the primitive's own (blocked) views of the input-side and output-side activation,
  // pointed at the shared scratch at each call, and the conversions from and to NHWC.
  dnnl::memory x_blocked, y_blocked;     // [N, C, H, W] and [N, O, OH, OW] in nChw16c
  dnnl::reorder x_to_blocked, x_to_nhwc, y_to_blocked, y_to_nhwc;
  bool x_c16 = false, y_c16 = false;     // that side's blocked layout is nChw16c (own copy loops)
};

// Every plan built so far, and the forward_training descriptors kept as hints for the backward
// descriptors.
struct OnednnPlans {
  std::map<PlanKey, Plan> plans;
  std::map<PlanKey, dnnl::convolution_forward::primitive_desc> forward_pds;
  void clear() {
    plans.clear();
    forward_pds.clear();
  }
};

// What Conv2dBlockedGradient points at: dy in the backward-data primitive's blocked layout, left
// in scratch slot 1 by that hand-out of the slot.
struct BlockedGradient {
  const float* dy = nullptr;   // the caller's NHWC dy that was converted: [N, OH, OW, O]
  dnnl::memory::desc md;       // its blocked layout
  uint64_t generation = 0;     // the hand-out of scratch slot 1 that holds it
};

// Whether this CPU runs oneDNN's Winograd at all (it needs AVX-512).
bool onednn_has_winograd();
// Whether oneDNN has bf16 convolutions on this CPU: natively with AVX512-BF16 or AMX, emulated
// on AVX-512 without them, none at all below AVX-512.
bool onednn_has_bf16();

// The three passes on the primitives; `winograd` picks oneDNN's Winograd algorithm (the caller
// has checked that the geometry allows it), else the direct one. Shapes as in conv2d.h.
void onednn_forward(Conv2dContext& ctx, const Conv2dShape& s, bool winograd, const float* x,
                    const float* w, const float* bias, float* y, bool training,
                    const WeightId& wid);
// Returns the blocked dy when the primitive read dy in a blocked layout (Winograd), else empty.
Conv2dBlockedGradient onednn_backward_data(Conv2dContext& ctx, const Conv2dShape& s,
                                           bool winograd, const float* dy, const float* w,
                                           float* dx, const WeightId& wid);
// Reads `after`'s conversion instead of converting dy again when it is this dy's, in this
// plan's layout, and still in the scratch slot.
void onednn_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, bool winograd,
                             const float* x, const float* dy, float* dw, float* dbias,
                             const Conv2dBlockedGradient& after);

// The bf16 mixed-precision passes (conv2d.h's *_bf16): the direct algorithm on NHWC in place.
// y: float32, or bf16 with y_bf16; epilogue: epilogue_code (conv2d_plan_key.h), for a bf16 y.
void onednn_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                         const float* w, const float* bias, void* y, bool y_bf16, bool training,
                         const WeightId& wid, int64_t epilogue = 0);
void onednn_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* dy,
                               const float* w, float* dx, const WeightId& wid);
void onednn_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                  const uint16_t* dy, float* dw, float* dbias);

}  // namespace hsanet::ops::detail
