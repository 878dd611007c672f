// Scalar reference pooling, templated on the number type (double for gradient checks).
// Written as scatters from each output window, the opposite of the fast path's gathers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "ops/pool.h"

namespace hsanet::ops::ref {

// One output window: the input rows [h0, h1) and columns [w0, w1) it reads, and its divisor.
struct PoolWindow {
  int64_t h0, h1, w0, w1;
  int64_t divisor;
};

inline PoolWindow pool_window(const Pool2dShape& s, int64_t oh, int64_t ow) {
  PoolWindow win;
  const int64_t hs = oh * s.stride_h - s.pad_h, ws = ow * s.stride_w - s.pad_w;
  // PyTorch: the window's extent is cut at the far edge of the padding, then at the input.
  const int64_t he = std::min(hs + s.KH, s.H + s.pad_h), we = std::min(ws + s.KW, s.W + s.pad_w);
  win.h0 = std::max<int64_t>(hs, 0), win.w0 = std::max<int64_t>(ws, 0);
  win.h1 = std::min(he, s.H), win.w1 = std::min(we, s.W);
  win.divisor = s.count_include_pad ? (he - hs) * (we - ws) : (win.h1 - win.h0) * (win.w1 - win.w0);
  return win;
}

// y = max over the window; argmax = h*W + w of the first maximum in row-major scan order.
//   x: [N, H, W, C]  y, argmax: [N, OH, OW, C]
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int32_t* argmax) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const PoolWindow win = pool_window(s, oh, ow);
        for (int64_t c = 0; c < C; ++c) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = win.h0 * s.W + win.w0;
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) {
              const T v = x[((n * s.H + h) * s.W + w) * C + c];
              if (v > best) best = v, at = h * s.W + w;
            }
          const int64_t o = ((n * OH + oh) * OW + ow) * C + c;
          y[o] = best;
          if (argmax) argmax[o] = static_cast<int32_t>(at);
        }
      }
}

// From the forward's `y = x[argmax]`: dx[argmax] += dy.
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  std::fill(dx, dx + s.N * s.H * s.W * C, T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < OH * OW; ++i)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t o = (n * OH * OW + i) * C + c;
        dx[(n * s.H * s.W + argmax[o]) * C + c] += dy[o];
      }
}

// y = sum over the window / divisor.
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const PoolWindow win = pool_window(s, oh, ow);
        for (int64_t c = 0; c < C; ++c) {
          T sum = T(0);
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) sum += x[((n * s.H + h) * s.W + w) * C + c];
          y[((n * OH + oh) * OW + ow) * C + c] = sum / T(win.divisor);
        }
      }
}

// From the forward's `y = sum(x) / divisor`: every x in the window gets dy / divisor.
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  std::fill(dx, dx + s.N * s.H * s.W * C, T(0));
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const PoolWindow win = pool_window(s, oh, ow);
        for (int64_t c = 0; c < C; ++c) {
          const T g = dy[((n * OH + oh) * OW + ow) * C + c] / T(win.divisor);
          for (int64_t h = win.h0; h < win.h1; ++h)
            for (int64_t w = win.w0; w < win.w1; ++w) dx[((n * s.H + h) * s.W + w) * C + c] += g;
        }
      }
}

}  // namespace hsanet::ops::ref
