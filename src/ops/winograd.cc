// winograd.h's entry points: one Highway dispatch per transform, choosing F(2x2, 3x3)'s kernels
// (winograd2x2-inl.h) or F(4x4, 3x3)'s (winograd4x4-inl.h) by the tile size.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/winograd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/winograd.h"
#include "ops/winograd2x2-inl.h"
#include "ops/winograd4x4-inl.h"

#include <stdexcept>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops::winograd {
namespace HWY_NAMESPACE {

void InputTransform(const Tiling& tl, int64_t C, const float* x, float* V) {
  if (tl.m == 2) return f2x2::InputTransform(tl, C, x, V);
  f4x4::InputTransform(tl, C, x, V);
}
void InputTransformBackward(const Tiling& tl, int64_t C, const float* dV, float* dx) {
  if (tl.m == 2) return f2x2::InputTransformBackward(tl, C, dV, dx);
  f4x4::InputTransformBackward(tl, C, dV, dx);
}
void OutputTransform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y) {
  if (tl.m == 2) return f2x2::OutputTransform(tl, O, M, bias, y);
  f4x4::OutputTransform(tl, O, M, bias, y);
}
void OutputTransformBackward(const Tiling& tl, int64_t O, const float* dy, float* dM) {
  if (tl.m == 2) return f2x2::OutputTransformBackward(tl, O, dy, dM);
  f4x4::OutputTransformBackward(tl, O, dy, dM);
}
void WeightTransform(int64_t m, int64_t O, int64_t C, const float* w, float* U) {
  if (m == 2) return f2x2::WeightTransform(O, C, w, U);
  f4x4::WeightTransform(O, C, w, U);
}
void WeightTransformBackward(int64_t m, int64_t O, int64_t C, const float* dU, float* dw) {
  if (m == 2) return f2x2::WeightTransformBackward(O, C, dU, dw);
  f4x4::WeightTransformBackward(O, C, dU, dw);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops::winograd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops::winograd {

HWY_EXPORT(InputTransform);
HWY_EXPORT(InputTransformBackward);
HWY_EXPORT(OutputTransform);
HWY_EXPORT(OutputTransformBackward);
HWY_EXPORT(WeightTransform);
HWY_EXPORT(WeightTransformBackward);

namespace {
void check_m(int64_t m) {
  if (m != 2 && m != 4)
    throw std::invalid_argument("winograd: tile size m must be 2 or 4, got " + std::to_string(m));
}
}  // namespace

void input_transform(const Tiling& tl, int64_t C, const float* x, float* V) {
  check_m(tl.m);
  HWY_DYNAMIC_DISPATCH(InputTransform)(tl, C, x, V);
}
void input_transform_backward(const Tiling& tl, int64_t C, const float* dV, float* dx) {
  check_m(tl.m);
  HWY_DYNAMIC_DISPATCH(InputTransformBackward)(tl, C, dV, dx);
}
void output_transform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y) {
  check_m(tl.m);
  HWY_DYNAMIC_DISPATCH(OutputTransform)(tl, O, M, bias, y);
}
void output_transform_backward(const Tiling& tl, int64_t O, const float* dy, float* dM) {
  check_m(tl.m);
  HWY_DYNAMIC_DISPATCH(OutputTransformBackward)(tl, O, dy, dM);
}
void weight_transform(int64_t m, int64_t O, int64_t C, const float* w, float* U) {
  check_m(m);
  HWY_DYNAMIC_DISPATCH(WeightTransform)(m, O, C, w, U);
}
void weight_transform_backward(int64_t m, int64_t O, int64_t C, const float* dU, float* dw) {
  check_m(m);
  HWY_DYNAMIC_DISPATCH(WeightTransformBackward)(m, O, C, dU, dw);
}

}  // namespace hsanet::ops::winograd
#endif  // HWY_ONCE
