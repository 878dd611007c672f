// Convolutions: the checks, the algorithm setting, which path runs for which shape and pass
// (choose_path), and the entry points, which run the chosen path on the process's
// Conv2dContext. The paths themselves live beside this file:
//   conv2d_gemm.cc      1x1 convolutions (strided ones gathered first) and the im2col 3x3 as
//                       oneDNN matmuls, OIHW weights read in place: no reorder at all.
//   conv2d_winograd.cc  hsanet's own Winograd F(2x2, 3x3) and F(4x4, 3x3) on NHWC (winograd.h).
//   conv2d_onednn.cc    oneDNN's convolution primitives, direct or Winograd, with their plans,
//                       weight reorders and blocked activation layouts.
// docs/conv.md has the table of paths by shape and pass, and the measurements behind each choice.
#include "ops/conv2d.h"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/bf16.h"
#include "ops/conv2d_context.h"
#include "ops/conv2d_gemm.h"
#include "ops/conv2d_onednn.h"
#include "ops/conv2d_winograd.h"
#include "ops/precision.h"

namespace hsanet::ops {
namespace {

using detail::Conv2dContext;

std::string describe(const Conv2dShape& s) {
  auto str = [](int64_t v) { return std::to_string(v); };
  return "input [" + str(s.N) + ", " + str(s.H) + ", " + str(s.W) + ", " + str(s.C) +
         "] (NHWC), weight [" + str(s.O) + ", " + str(s.groups > 0 ? s.C / s.groups : s.C) + ", " +
         str(s.KH) + ", " + str(s.KW) + "] (OIHW), stride (" + str(s.stride_h) + ", " +
         str(s.stride_w) + "), padding (" + str(s.pad_h) + ", " + str(s.pad_w) + "), dilation (" +
         str(s.dilation_h) + ", " + str(s.dilation_w) + "), groups " + str(s.groups);
}


// ---------------------------------------------------------------- shape classes

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0 && s.groups == 1;
}
// ResNet's downsample shortcuts: 1x1 with stride > 1.
bool is_strided_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.pad_h == 0 && s.pad_w == 0 && s.groups == 1 &&
         (s.stride_h > 1 || s.stride_w > 1);
}

// 3x3, stride 1, padding 1, no dilation or groups: the layers both Winograds compute.
bool is_3x3_same(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1;
}

// The geometries oneDNN's avx512 Winograd supports, and where it measured faster (docs/conv.md).
bool winograd_geometry(const Conv2dShape& s) {
  return is_3x3_same(s) && s.C % 16 == 0 && s.O % 16 == 0 && s.OH() * s.OW() >= 28 * 28;
}

// Narrower layers' 16 products are too small for the matmuls to beat the direct kernels.
constexpr int64_t kWinograd2x2MinChannels = 64;
bool winograd2x2_geometry(const Conv2dShape& s) {
  return is_3x3_same(s) && s.C >= kWinograd2x2MinChannels && s.O >= kWinograd2x2MinChannels &&
         s.OH() * s.OW() < 28 * 28;
}

// The strided 3x3 layers with the smallest maps (ResNet's 512-channel one at 7x7 output), where
// the direct kernels were slowest and reordered 9.4 MB of weights twice a step (conv2d_gemm.h).
bool im2col_geometry(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 &&
         s.C >= 256 && s.OH() * s.OW() <= 7 * 7;
}

// bf16 (no Winograd there): the 3x3 layers of at most 7x7 outputs at 256 channels and more,
// either stride (ResNet's stage 4), whose direct kernels reorder 2.4 M weights twice a step: as
// im2col + a bf16 matmul their forward and weight gradient took 3.4 instead of 4.6-4.7 ms and
// 3.4 instead of 3.6-5.4 ms a call inside a ResNet-50 step; at 14x14 outputs they were slower
// (docs/precision.md).
bool im2col_bf16_geometry(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.pad_h == 1 && s.pad_w == 1 && s.stride_h == s.stride_w &&
         s.stride_h <= 2 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 &&
         s.C >= 256 && s.OH() * s.OW() <= 7 * 7;
}

// Of the layers that run Winograd F(4x4, 3x3), those below 56x56 run all three passes on
// hsanet's own NHWC kernels (winograd.h), which skip the nChw16c conversions and measured
// faster there (docs/winograd.md).
bool own_winograd4x4(const Conv2dShape& s) {
  return conv2d_uses_winograd(s, Conv2dAlgorithm::kFast) && s.OH() * s.OW() < 56 * 56;
}

// Where oneDNN's own 1x1 convolution kernels beat the matmuls: forward over 3136 and more output
// positions (ResNet's 56x56 and 28x28 maps at batch 4; the strided ones too), and the stride-1
// ones' backward-weights over 12544 (the 56x56 maps; at 28x28 the matmuls were ~0.7 ms a step
// faster). Measured inside a ResNet-50 step (docs/conv.md); the matmuls stay faster for
// backward-data, where they also add the residual's gradient as they write, and on the smaller
// maps.
constexpr int64_t kPointwiseForwardOnConv = 3136, kPointwiseWeightsOnConv = 12544;
bool pointwise_forward_on_conv(const Conv2dShape& s) {
  return (is_pointwise(s) || is_strided_pointwise(s)) &&
         s.N * s.OH() * s.OW() >= kPointwiseForwardOnConv;
}
bool pointwise_weights_on_conv(const Conv2dShape& s) {
  return is_pointwise(s) && s.N * s.OH() * s.OW() >= kPointwiseWeightsOnConv;
}

// ---------------------------------------------------------------- the policy

enum class Pass { kForward, kBackwardData, kBackwardWeights };
enum class Path {
  kPointwiseGemm,         // conv2d_gemm.cc: matmuls over the caller's buffers
  kStridedPointwiseGemm,  // conv2d_gemm.cc: gathered positions, then the matmuls
  kIm2colGemm,            // conv2d_gemm.cc: window matrix, then a matmul
  kOwnWinograd2x2,        // conv2d_winograd.cc, m = 2
  kOwnWinograd4x4,        // conv2d_winograd.cc, m = 4
  kOnednn,                // conv2d_onednn.cc: direct, or Winograd where conv2d_uses_winograd
};

// Which path runs this pass of this shape, in this precision, under the current algorithm
// setting. Each condition was measured (docs/conv.md, docs/winograd.md, docs/precision.md); the
// classes do not overlap, so the order of the tests only matters within the 1x1 ones. In bf16
// the 1x1 ones take the same matmul paths at the same sizes (measured again in bf16: the
// matmuls won below 3136 positions forward and 12544 for the weight gradient, as in float32),
// and everything else runs on oneDNN's bf16 convolutions: there is no bf16 Winograd.
Path choose_path(const Conv2dShape& s, Pass pass, Conv2dAlgorithm algorithm,
                 Precision precision = Precision::kF32) {
  switch (pass) {
    case Pass::kForward:
      if (is_pointwise(s) && !pointwise_forward_on_conv(s)) return Path::kPointwiseGemm;
      if (is_strided_pointwise(s) && !pointwise_forward_on_conv(s))
        return Path::kStridedPointwiseGemm;
      break;
    case Pass::kBackwardData:  // the matmuls at every size: they also accumulate
      if (is_pointwise(s)) return Path::kPointwiseGemm;
      if (is_strided_pointwise(s)) return Path::kStridedPointwiseGemm;
      break;
    case Pass::kBackwardWeights:
      if (is_pointwise(s) && !pointwise_weights_on_conv(s)) return Path::kPointwiseGemm;
      if (is_strided_pointwise(s)) return Path::kStridedPointwiseGemm;
      break;
  }
  if (precision == Precision::kBF16)
    return pass != Pass::kBackwardData && im2col_bf16_geometry(s) ? Path::kIm2colGemm
                                                                   : Path::kOnednn;
  if (algorithm == Conv2dAlgorithm::kDirect) return Path::kOnednn;
  if (own_winograd4x4(s)) return Path::kOwnWinograd4x4;
  if (conv2d_uses_winograd2x2(s, algorithm)) return Path::kOwnWinograd2x2;
  // Backward-data stays direct: as a product it would write a [P, 9C] matrix and then
  // scatter-add it, slower.
  if (pass != Pass::kBackwardData && conv2d_uses_im2col(s, algorithm)) return Path::kIm2colGemm;
  return Path::kOnednn;
}

}  // namespace

// ---------------------------------------------------------------- the algorithm setting


Conv2dAlgorithm parse_conv2d_algorithm(const std::string& name) {
  if (name == "fast") return Conv2dAlgorithm::kFast;
  if (name == "direct") return Conv2dAlgorithm::kDirect;
  throw std::invalid_argument("unknown convolution algorithm '" + name + "' (expected fast or direct)");
}

bool conv2d_uses_winograd(const Conv2dShape& s, Conv2dAlgorithm algorithm) {
  return algorithm == Conv2dAlgorithm::kFast && winograd_geometry(s) &&
         detail::onednn_has_winograd();
}

bool conv2d_uses_im2col(const Conv2dShape& s, Conv2dAlgorithm algorithm) {
  return algorithm == Conv2dAlgorithm::kFast && im2col_geometry(s);
}

bool conv2d_uses_winograd2x2(const Conv2dShape& s, Conv2dAlgorithm algorithm) {
  return algorithm == Conv2dAlgorithm::kFast && winograd2x2_geometry(s) &&
         !conv2d_uses_winograd(s, algorithm);
}

// ---------------------------------------------------------------- checks

void check_conv2d(const Conv2dShape& s, const char* op) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (" + describe(s) + ")");
  };
  if (s.N <= 0 || s.H <= 0 || s.W <= 0 || s.C <= 0) fail("input sizes must be positive");
  if (s.O <= 0 || s.KH <= 0 || s.KW <= 0) fail("weight sizes must be positive");
  if (s.stride_h <= 0 || s.stride_w <= 0) fail("stride must be positive");
  if (s.pad_h < 0 || s.pad_w < 0) fail("padding must be non-negative");
  if (s.dilation_h <= 0 || s.dilation_w <= 0) fail("dilation must be positive");
  if (s.groups <= 0) fail("groups must be positive");
  if (s.C % s.groups != 0)
    fail("input channels " + std::to_string(s.C) + " are not divisible by groups");
  if (s.O % s.groups != 0)
    fail("output channels " + std::to_string(s.O) + " are not divisible by groups");
  const int64_t ext_h = s.dilation_h * (s.KH - 1) + 1, ext_w = s.dilation_w * (s.KW - 1) + 1;
  if (ext_h > s.H + 2 * s.pad_h || ext_w > s.W + 2 * s.pad_w)
    fail("kernel extent " + std::to_string(ext_h) + "x" + std::to_string(ext_w) +
         " is larger than the padded input " + std::to_string(s.H + 2 * s.pad_h) + "x" +
         std::to_string(s.W + 2 * s.pad_w));
  // oneDNN indexes with int; keep every buffer addressable by it.
  const int64_t limit = int64_t{1} << 31;
  if (s.N * s.H * s.W * s.C >= limit || s.N * s.OH() * s.OW() * s.O >= limit)
    fail("tensor too large for oneDNN's 32-bit offsets");
}

// ---------------------------------------------------------------- the three passes

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool training, const WeightId& wid, Conv2dAlgorithm algorithm) {
  check_conv2d(s, "conv2d_forward");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  switch (choose_path(s, Pass::kForward, algorithm)) {
    case Path::kPointwiseGemm: return detail::pointwise_forward(ctx, s, x, w, bias, y);
    case Path::kStridedPointwiseGemm:
      return detail::strided_pointwise_forward(ctx, s, x, w, bias, y);
    case Path::kIm2colGemm: return detail::im2col_forward(ctx, s, x, w, bias, y);
    case Path::kOwnWinograd2x2: return detail::winograd_forward(ctx, 2, s, x, w, bias, y, wid);
    case Path::kOwnWinograd4x4: return detail::winograd_forward(ctx, 4, s, x, w, bias, y, wid);
    case Path::kOnednn:
      return detail::onednn_forward(ctx, s, conv2d_uses_winograd(s, algorithm), x, w, bias, y,
                                    training, wid);
  }
}

bool conv2d_backward_data_accumulates(const Conv2dShape& s) {
  return is_pointwise(s) || is_strided_pointwise(s);
}

Conv2dBlockedGradient conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w,
                                           float* dx, const WeightId& wid, bool accumulate,
                                           Conv2dAlgorithm algorithm) {
  check_conv2d(s, "conv2d_backward_data");
  if (accumulate && !conv2d_backward_data_accumulates(s))
    throw std::invalid_argument("conv2d_backward_data: accumulating into dx needs a 1x1 "
                                "convolution without padding or groups (" + describe(s) + ")");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  switch (choose_path(s, Pass::kBackwardData, algorithm)) {
    case Path::kPointwiseGemm:
      detail::pointwise_backward_data(ctx, s, dy, w, dx, accumulate);
      return {};
    case Path::kStridedPointwiseGemm:
      detail::strided_pointwise_backward_data(ctx, s, dy, w, dx, accumulate);
      return {};
    case Path::kOwnWinograd2x2:
      detail::winograd_backward_data(ctx, 2, s, dy, w, dx, wid);
      return {};
    case Path::kOwnWinograd4x4:
      detail::winograd_backward_data(ctx, 4, s, dy, w, dx, wid);
      return {};
    case Path::kIm2colGemm:  // never chosen for backward-data
    case Path::kOnednn: break;
  }
  return detail::onednn_backward_data(ctx, s, conv2d_uses_winograd(s, algorithm), dy, w, dx, wid);
}

void conv2d_backward_weights(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                             float* dbias, const Conv2dBlockedGradient& after,
                             Conv2dAlgorithm algorithm) {
  check_conv2d(s, "conv2d_backward_weights");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  switch (choose_path(s, Pass::kBackwardWeights, algorithm)) {
    case Path::kPointwiseGemm:
    case Path::kStridedPointwiseGemm:
      return detail::pointwise_backward_weights(ctx, s, x, dy, dw, dbias);
    case Path::kIm2colGemm: return detail::im2col_backward_weights(ctx, s, x, dy, dw, dbias);
    case Path::kOwnWinograd2x2: return detail::winograd_backward_weights(ctx, 2, s, x, dy, dw, dbias);
    case Path::kOwnWinograd4x4: return detail::winograd_backward_weights(ctx, 4, s, x, dy, dw, dbias);
    case Path::kOnednn:
      return detail::onednn_backward_weights(ctx, s, conv2d_uses_winograd(s, algorithm), x, dy, dw, dbias,
                                             after);
  }
}

// ---------------------------------------------------------------- bf16 mixed precision

namespace {

// Below AVX-512 oneDNN has no bf16 convolution at all. There the same sums run in float32 on the
// widened values, with the weights rounded to bf16 first: products of two bf16 values are exact
// in float32, so the results obey the same bounds as oneDNN's own bf16 kernels (docs/precision.md),
// only slower. The direct algorithm, so no Winograd rounding is added.
//   returns x widened into scratch slot `slot`: [n] float32
const float* widened(Conv2dContext& ctx, int slot, const uint16_t* x, int64_t n) {
  float* xf = ctx.scratch.get(slot, static_cast<size_t>(n));
  bf16_to_float(x, xf, n);
  return xf;
}
//   returns w rounded to bf16 values, in scratch slot 2: [n] float32
const float* rounded_weights(Conv2dContext& ctx, const float* w, int64_t n) {
  std::vector<uint16_t> wb(static_cast<size_t>(n));
  float_to_bf16(w, wb.data(), n);
  return widened(ctx, 2, wb.data(), n);
}
int64_t input_size(const Conv2dShape& s) { return s.N * s.H * s.W * s.C; }
int64_t output_size(const Conv2dShape& s) { return s.N * s.OH() * s.OW() * s.O; }
int64_t weight_size(const Conv2dShape& s) { return s.O * (s.C / s.groups) * s.KH * s.KW; }

}  // namespace

namespace {

// The emulated epilogue (Conv2dEpilogue) on float32 sums, then rounded into y.
//   yf: float32 [n] (overwritten)  y: bf16 [n], the residual on entry with add_to_y
void finish_emulated(Conv2dContext& ctx, const Conv2dEpilogue& e, float* yf, uint16_t* y,
                     int64_t n) {
  if (e.add_to_y) {
    const float* r = widened(ctx, 0, y, n);  // slot 0's widened x is no longer needed
    for (int64_t i = 0; i < n; ++i) yf[i] += r[i];
  }
  if (e.relu)
    for (int64_t i = 0; i < n; ++i) yf[i] = std::max(yf[i], 0.0f);
  float_to_bf16(yf, y, n);
}

// The bf16 forward into y, float32 or (y_bf16) bf16, with an epilogue only for a bf16 y.
void forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w, const float* bias,
                  void* y, bool y_bf16, bool training, const WeightId& wid,
                  const Conv2dEpilogue& epilogue = {}) {
  check_conv2d(s, "conv2d_forward_bf16");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  if (!detail::onednn_has_bf16()) {  // float32 sums, then rounded when y is bf16
    const int64_t ny = output_size(s);
    float* yf = y_bf16 ? ctx.scratch.get(1, static_cast<size_t>(ny)) : static_cast<float*>(y);
    detail::onednn_forward(ctx, s, false, widened(ctx, 0, x, input_size(s)),
                           rounded_weights(ctx, w, weight_size(s)), bias, yf, training, {});
    if (y_bf16) finish_emulated(ctx, epilogue, yf, static_cast<uint16_t*>(y), ny);
    return;
  }
  const int64_t e = detail::epilogue_code(epilogue);
  switch (choose_path(s, Pass::kForward, Conv2dAlgorithm::kFast, Precision::kBF16)) {
    case Path::kPointwiseGemm:
      return detail::pointwise_forward_bf16(ctx, s, x, w, bias, y, y_bf16, wid, e);
    case Path::kStridedPointwiseGemm:
      return detail::strided_pointwise_forward_bf16(ctx, s, x, w, bias, y, y_bf16, wid, e);
    case Path::kIm2colGemm:
      return detail::im2col_forward_bf16(ctx, s, x, w, bias, y, y_bf16, wid, e);
    default: return detail::onednn_forward_bf16(ctx, s, x, w, bias, y, y_bf16, training, wid, e);
  }
}

}  // namespace

void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, float* y, bool training, const WeightId& wid) {
  forward_bf16(s, x, w, bias, y, false, training, wid);
}

void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, uint16_t* y, bool training, const WeightId& wid) {
  forward_bf16(s, x, w, bias, y, true, training, wid);
}

void conv2d_forward_bf16(const Conv2dShape& s, const uint16_t* x, const float* w,
                         const float* bias, uint16_t* y, const Conv2dEpilogue& epilogue,
                         const WeightId& wid) {
  forward_bf16(s, x, w, bias, y, true, /*training=*/false, wid, epilogue);
}

void conv2d_backward_data_bf16(const Conv2dShape& s, const uint16_t* dy, const float* w, float* dx,
                               const WeightId& wid, bool accumulate) {
  check_conv2d(s, "conv2d_backward_data_bf16");
  if (accumulate && !conv2d_backward_data_accumulates(s))
    throw std::invalid_argument("conv2d_backward_data_bf16: accumulating into dx needs a 1x1 "
                                "convolution without padding or groups (" + describe(s) + ")");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  if (!detail::onednn_has_bf16()) {
    const float* dyf = widened(ctx, 1, dy, output_size(s));
    const float* wr = rounded_weights(ctx, w, weight_size(s));
    if (is_pointwise(s)) return detail::pointwise_backward_data(ctx, s, dyf, wr, dx, accumulate);
    if (is_strided_pointwise(s))
      return detail::strided_pointwise_backward_data(ctx, s, dyf, wr, dx, accumulate);
    detail::onednn_backward_data(ctx, s, false, dyf, wr, dx, {});
    return;
  }
  switch (choose_path(s, Pass::kBackwardData, Conv2dAlgorithm::kFast, Precision::kBF16)) {
    case Path::kPointwiseGemm:
      return detail::pointwise_backward_data_bf16(ctx, s, dy, w, dx, wid, accumulate);
    case Path::kStridedPointwiseGemm:
      return detail::strided_pointwise_backward_data_bf16(ctx, s, dy, w, dx, wid, accumulate);
    default: return detail::onednn_backward_data_bf16(ctx, s, dy, w, dx, wid);
  }
}

void conv2d_backward_weights_bf16(const Conv2dShape& s, const uint16_t* x, const uint16_t* dy,
                                  float* dw, float* dbias) {
  check_conv2d(s, "conv2d_backward_weights_bf16");
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  if (!detail::onednn_has_bf16())
    return detail::onednn_backward_weights(ctx, s, false, widened(ctx, 0, x, input_size(s)),
                                           widened(ctx, 1, dy, output_size(s)), dw, dbias, {});
  switch (choose_path(s, Pass::kBackwardWeights, Conv2dAlgorithm::kFast, Precision::kBF16)) {
    case Path::kPointwiseGemm:
    case Path::kStridedPointwiseGemm:
      return detail::pointwise_backward_weights_bf16(ctx, s, x, dy, dw, dbias);
    case Path::kIm2colGemm: return detail::im2col_backward_weights_bf16(ctx, s, x, dy, dw, dbias);
    default: return detail::onednn_backward_weights_bf16(ctx, s, x, dy, dw, dbias);
  }
}

// ---------------------------------------------------------------- cache control

Conv2dCacheStats conv2d_cache_stats() {
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  return ctx.stats();
}

void conv2d_clear_caches() {
  Conv2dContext& ctx = detail::default_conv2d_context();
  std::lock_guard<std::mutex> lock(ctx.mutex);
  ctx.clear();
}

}  // namespace hsanet::ops
