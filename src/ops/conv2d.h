// 2-D convolution on oneDNN: forward, backward-data and backward-weights over NHWC activations and
// PyTorch-layout (OIHW) weights. See docs/conv.md for the design (caches, layouts, measurements).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace hsanet::ops {

// The geometry of one convolution (PyTorch's semantics: symmetric zero padding, dilation >= 1).
struct Conv2dShape {
  int64_t N = 1, H = 1, W = 1, C = 1;  // input x: [N, H, W, C]
  int64_t O = 1, KH = 1, KW = 1;       // weight w: [O, C / groups, KH, KW]; output has O channels
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;        // zeros added on both sides of each spatial axis
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  // output y: [N, OH, OW, O] with OH = floor((H + 2*pad_h - dilation_h*(KH-1) - 1) / stride_h) + 1
  int64_t OH() const { return (H + 2 * pad_h - dilation_h * (KH - 1) - 1) / stride_h + 1; }
  int64_t OW() const { return (W + 2 * pad_w - dilation_w * (KW - 1) - 1) / stride_w + 1; }
  // Multiply-adds times two, for GFLOP/s: every output element sums (C/groups)*KH*KW products.
  double flops() const {
    return 2.0 * static_cast<double>(N * OH() * OW() * O) * static_cast<double>(C / groups * KH * KW);
  }
};

// Throws std::invalid_argument, naming `op` and the shapes, when the geometry is impossible:
// non-positive sizes, channels not divisible by groups, a kernel larger than the padded input, ...
void check_conv2d(const Conv2dShape& s, const char* op = "conv2d");

// Which algorithm the 3x3 convolutions run. Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3) makes
// the same sums from 36 products per 16 outputs instead of 144, but rounds differently: its
// outputs and gradients carry ~5x the rounding error of the direct algorithm (~1e-6 of their
// size instead of ~2e-7; docs/conv.md). Like PyTorch's TF32 switch for GPU convolutions, the
// fast setting is the default and `kDirect` is there for bit-level comparisons. Each call takes
// the algorithm as an argument (a model carries it: nn::Conv2dOptions, ModelConfig); nothing
// about it is a process-wide setting.
enum class Conv2dAlgorithm {
  kFast,    // Winograd where conv2d_uses_winograd or conv2d_uses_winograd2x2 say so, im2col
            // where conv2d_uses_im2col does, the direct algorithm elsewhere
  kDirect,  // the direct algorithm (1x1: matmuls or oneDNN's 1x1 kernels) everywhere
};
// "fast" | "direct"; anything else throws std::invalid_argument naming the accepted values.
Conv2dAlgorithm parse_conv2d_algorithm(const std::string& name);

// Which version of which weight buffer a call sees, for the cache of reordered weights: the
// primitive's preferred weight layout is made from OIHW once per (owner, version), not per call.
// `owner` is any object whose lifetime is the weight's (the Tensor's storage, say); an empty
// owner turns the cache off for that call. The caller bumps `version` whenever the values change.
struct WeightId {
  std::weak_ptr<const void> owner;
  uint64_t version = 0;
};

// y = conv(x, w) + bias. bias: [O] or nullptr. `training` picks oneDNN's forward_training
// (the descriptor the backward passes are built against) or forward_inference.
//   x: [N, H, W, C]  w: [O, C/groups, KH, KW]  bias: [O]  y: [N, OH, OW, O]
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool training, const WeightId& wid = {},
                    Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);

namespace detail {
struct BlockedGradient;  // conv2d_onednn.h
}
// What a backward-data leaves for the backward-weights of the same dy. Where both passes read dy
// in a blocked layout (oneDNN's Winograd, 56x56 maps and up), backward-data converts it into a
// scratch buffer and returns this handle to that conversion; backward-weights given the handle
// reads the conversion instead of converting dy again, provided it is for the same dy buffer and
// layout and nothing has used that scratch buffer since. Elsewhere the handle is empty and
// backward-weights converts (or reads dy in place) as it always does. A handle only says where
// the conversion is, not that dy is unchanged: pass it only for the same, unmodified dy.
struct Conv2dBlockedGradient {
  std::shared_ptr<const detail::BlockedGradient> blocked;  // empty: nothing to reuse
  bool empty() const { return !blocked; }
};

// dx = dL/dx given dy = dL/dy (overwrites dx), or dx += dL/dx with `accumulate` -- which only
// the shapes for which conv2d_backward_data_accumulates is true support (1x1 convolutions
// without padding or groups, whose matmuls add as they write); others throw. Returns the
// handle to dy's blocked conversion for conv2d_backward_weights (empty where there is none).
//   dy: [N, OH, OW, O]  w: [O, C/groups, KH, KW]  dx: [N, H, W, C]
Conv2dBlockedGradient conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w,
                                           float* dx, const WeightId& wid = {},
                                           bool accumulate = false,
                                           Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);
bool conv2d_backward_data_accumulates(const Conv2dShape& s);

// dw = dL/dw in OIHW and, when dbias is not nullptr, dbias = dL/dbias (both overwritten).
// after: what conv2d_backward_data returned for this shape and this same, unmodified dy (or
// empty): its blocked conversion of dy is reused when still there.
//   x: [N, H, W, C]  dy: [N, OH, OW, O]  dw: [O, C/groups, KH, KW]  dbias: [O]
void conv2d_backward_weights(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                             float* dbias, const Conv2dBlockedGradient& after = {},
                             Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);

// bf16 mixed precision (docs/precision.md). The activations and gradients come in as bf16 bit
// patterns (ops/bf16.h converts), the weights as the float32 master, which is converted to bf16
// in the primitive's layout once per (owner, version) as above; products accumulate in float32
// and the outputs are float32. Every geometry runs oneDNN's direct algorithm (there is no bf16
// Winograd); on a CPU without bf16 instructions oneDNN emulates it (ops/precision.h). dx is
// overwritten, or added to with `accumulate` where conv2d_backward_data_accumulates says so (the
// same 1x1 shapes as in float32: they run as matmuls that add as they write).
//   x, dy: bf16 [N, H, W, C] and [N, OH, OW, O]   w, dw: float32 OIHW   y, dx: float32
void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, float* y, bool training, const WeightId& wid = {});
// The same with y in bf16 (rounded to nearest even from the float32 sums), for a consumer that
// reads bf16 (batch norm: ops/batchnorm.h).
void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, uint16_t* y, bool training, const WeightId& wid = {});
void conv2d_backward_data_bf16(const Conv2dShape& s, const uint16_t* dy, const float* w, float* dx,
                               const WeightId& wid = {}, bool accumulate = false);

// What a bf16 inference forward does to its float32 sums before rounding them into y (bf16):
//   y = relu?(conv(x, w) + bias + (add_to_y ? y : 0))
// Both run inside the convolution (oneDNN post-ops: a sum, then an eltwise ReLU), so a batch
// norm folded into w and bias (nn/conv_bn_fold.h), a residual add and a ReLU cost no pass over
// memory of their own. add_to_y: y holds the residual, in bf16, on entry.
struct Conv2dEpilogue {
  bool add_to_y = false;
  bool relu = false;
};
// The inference forward (oneDNN's forward_inference) with an epilogue.
//   x: bf16 [N, H, W, C]  w: float32 OIHW  bias: [O] or nullptr  y: bf16 [N, OH, OW, O]
void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, uint16_t* y, const Conv2dEpilogue& epilogue,
                         const WeightId& wid = {});
void conv2d_backward_weights_bf16(const Conv2dShape& s, const uint16_t* x, const uint16_t* dy,
                                  float* dw, float* dbias);

// True when this geometry runs as Winograd under `algorithm`: 3x3, stride 1, padding 1,
// no dilation or groups, channels in multiples of 16 (its blocked layouts), and an output of at
// least 28x28 per image: on ResNet's 14x14 and 7x7 layers it measured no faster (docs/conv.md).
// Below 56x56 all three passes run on hsanet's own NHWC transforms (winograd.h), from 56x56
// on oneDNN's. Always false on CPUs without AVX-512, where oneDNN has no Winograd.
bool conv2d_uses_winograd(const Conv2dShape& s, Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);
// True when this geometry runs as Winograd F(2x2, 3x3) (winograd.h) under `algorithm`: 3x3, stride 1, padding 1, no dilation or groups, at least 64 channels in and out, and
// an output smaller than 28x28 (the layers F(4x4, 3x3) leaves to the direct algorithm). Its
// rounding error is that of the direct algorithm's order (docs/winograd.md).
bool conv2d_uses_winograd2x2(const Conv2dShape& s,
                             Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);
// True when this geometry's forward and backward-weights run as one matrix product over a
// gathered [N*OH*OW, C*9] matrix of input windows (im2col) with the OIHW weights read in place,
// under the fast algorithm: 3x3, stride 2, padding 1, no dilation or groups, at least 256 input
// channels and at most 7x7 output positions (ResNet's stage-4 downsampling 3x3, where the direct
// kernels were slowest and reordered 9.4 MB of weights twice a step). The sums are the direct
// algorithm's, in another order.
bool conv2d_uses_im2col(const Conv2dShape& s, Conv2dAlgorithm algorithm = Conv2dAlgorithm::kFast);

// Counters for tests and benchmarks: how often the caches missed.
struct Conv2dCacheStats {
  int64_t primitives_created = 0;  // oneDNN convolution primitives built (one per shape+direction)
  int64_t weight_reorders = 0;     // OIHW -> preferred-layout reorders of weights executed
  int64_t gradient_reorders = 0;   // preferred-layout -> OIHW reorders of weight gradients
  int64_t cached_weights = 0;      // reordered weight buffers currently held
  int64_t winograd_primitives = 0; // of primitives_created, those running Winograd F(4x4, 3x3)
  int64_t winograd2x2_calls = 0;   // passes run as Winograd F(2x2, 3x3) (no primitive of its own)
  int64_t winograd4x4_calls = 0;   // F(4x4, 3x3) passes run on hsanet's own NHWC kernels
  int64_t blocked_dy_reuses = 0;   // backward-weights that reused backward-data's blocked dy
                                   // (through a Conv2dBlockedGradient)
  int64_t bf16_primitives = 0;     // of primitives_created, the bf16 mixed-precision ones
};
Conv2dCacheStats conv2d_cache_stats();
// Drops every cached primitive, reordered weight and scratch buffer (tests; or to free memory).
void conv2d_clear_caches();

}  // namespace hsanet::ops
