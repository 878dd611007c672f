// Scalar reference convolution, templated on the number type (double for gradient checks).
// Direct loops over the definition; slow, obvious, and the standard the oneDNN path is held to.
#pragma once

#include <cstdint>

#include "ops/conv2d.h"

namespace hsanet::ops::ref {

// Calls fn(n, oh, ow, o, h, w, c, kh, kw) for every (output element, kernel tap) pair whose input
// position (h, w) lies inside the image: the taps that fall into the zero padding contribute
// nothing, in the forward and in both backward passes.
template <typename Fn>
void for_each_tap(const Conv2dShape& s, Fn&& fn) {
  const int64_t OH = s.OH(), OW = s.OW();
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;  // channels per group
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t o = 0; o < s.O; ++o) {
          const int64_t g = o / Og;
          for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t h = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
            if (h < 0 || h >= s.H) continue;
            for (int64_t kw = 0; kw < s.KW; ++kw) {
              const int64_t w = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
              if (w < 0 || w >= s.W) continue;
              for (int64_t ci = 0; ci < Cg; ++ci) fn(n, oh, ow, o, h, w, g * Cg + ci, ci, kh, kw);
            }
          }
        }
}

// y[n, oh, ow, o] = bias[o] + sum_{ci, kh, kw} x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, g*Cg + ci]
//                                            * w[o, ci, kh, kw]          (g = o's group)
//   x: [N, H, W, C]  w: [O, C/groups, KH, KW]  bias: [O] or nullptr  y: [N, OH, OW, O]
template <typename T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t OH = s.OH(), OW = s.OW(), Cg = s.C / s.groups;
  for (int64_t i = 0; i < s.N * OH * OW; ++i)
    for (int64_t o = 0; o < s.O; ++o) y[i * s.O + o] = bias ? bias[o] : T(0);
  for_each_tap(s, [&](int64_t n, int64_t oh, int64_t ow, int64_t o, int64_t h, int64_t wi,
                      int64_t c, int64_t ci, int64_t kh, int64_t kw) {
    y[((n * OH + oh) * OW + ow) * s.O + o] +=
        x[((n * s.H + h) * s.W + wi) * s.C + c] * w[((o * Cg + ci) * s.KH + kh) * s.KW + kw];
  });
}

// From the forward's `y[...] += x[...] * w[...]`: dx[...] += dy[...] * w[...].
//   dy: [N, OH, OW, O]  w: [O, C/groups, KH, KW]  dx: [N, H, W, C] (overwritten)
template <typename T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
  const int64_t OH = s.OH(), OW = s.OW(), Cg = s.C / s.groups;
  for (int64_t i = 0; i < s.N * s.H * s.W * s.C; ++i) dx[i] = T(0);
  for_each_tap(s, [&](int64_t n, int64_t oh, int64_t ow, int64_t o, int64_t h, int64_t wi,
                      int64_t c, int64_t ci, int64_t kh, int64_t kw) {
    dx[((n * s.H + h) * s.W + wi) * s.C + c] +=
        dy[((n * OH + oh) * OW + ow) * s.O + o] * w[((o * Cg + ci) * s.KH + kh) * s.KW + kw];
  });
}

// From the forward's `y[...] += x[...] * w[...]`: dw[...] += dy[...] * x[...]; and from
// `y = bias[o] + ...`: dbias[o] = sum of dy over n, oh, ow.
//   x: [N, H, W, C]  dy: [N, OH, OW, O]  dw: [O, C/groups, KH, KW]  dbias: [O] or nullptr
template <typename T>
void conv2d_backward_weights(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* dbias) {
  const int64_t OH = s.OH(), OW = s.OW(), Cg = s.C / s.groups;
  for (int64_t i = 0; i < s.O * Cg * s.KH * s.KW; ++i) dw[i] = T(0);
  for_each_tap(s, [&](int64_t n, int64_t oh, int64_t ow, int64_t o, int64_t h, int64_t wi,
                      int64_t c, int64_t ci, int64_t kh, int64_t kw) {
    dw[((o * Cg + ci) * s.KH + kh) * s.KW + kw] +=
        dy[((n * OH + oh) * OW + ow) * s.O + o] * x[((n * s.H + h) * s.W + wi) * s.C + c];
  });
  if (dbias) {
    for (int64_t o = 0; o < s.O; ++o) dbias[o] = T(0);
    for (int64_t i = 0; i < s.N * OH * OW; ++i)
      for (int64_t o = 0; o < s.O; ++o) dbias[o] += dy[i * s.O + o];
  }
}

}  // namespace hsanet::ops::ref
