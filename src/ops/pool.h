// 2-D max and average pooling over NHWC images (Highway, vectorised along the channels).
// PyTorch's semantics: padding, ceil_mode, and for average pooling count_include_pad.
#pragma once

#include <algorithm>
#include <cstdint>

namespace hsanet::ops {

struct Pool2dShape {
  int64_t N = 1, H = 1, W = 1, C = 1;  // input x: [N, H, W, C]
  int64_t KH = 1, KW = 1;              // window
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;        // implicit padding on both sides (at most half the window)
  bool ceil_mode = false;              // round the output size up instead of down
  bool count_include_pad = true;       // average pooling: divide by the window's size including
                                       // the zero padding (PyTorch's default)

  // PyTorch's formula: out = floor_or_ceil((H + 2*pad - KH) / stride) + 1, and with ceil_mode the
  // last window must start inside the input or the left padding (else it is dropped).
  int64_t OH() const { return out_size(H, KH, stride_h, pad_h); }
  int64_t OW() const { return out_size(W, KW, stride_w, pad_w); }
  int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) const {
    const int64_t span = in + 2 * p - k;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) --out;
    return out;
  }
  // The input rows [row_begin, row_end) and columns [col_begin, col_end) that output (oh, ow)'s
  // window covers, the padding clipped away.
  int64_t row_begin(int64_t oh) const { return std::max<int64_t>(oh * stride_h - pad_h, 0); }
  int64_t row_end(int64_t oh) const { return std::min(oh * stride_h - pad_h + KH, H); }
  int64_t col_begin(int64_t ow) const { return std::max<int64_t>(ow * stride_w - pad_w, 0); }
  int64_t col_end(int64_t ow) const { return std::min(ow * stride_w - pad_w + KW, W); }
};

// Throws std::invalid_argument, naming `op` and the shapes, for impossible pooling geometries.
void check_pool2d(const Pool2dShape& s, const char* op = "pool2d");

// y = max over each window; padding never wins (it counts as -infinity); NaN propagates.
// argmax (nullptr in inference) receives the position h*W + w of the maximum within its image.
//   x: [N, H, W, C]  y: [N, OH, OW, C]  argmax: [N, OH, OW, C] int32
void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax);
// dx[n, h, w, c] = sum of dy over the outputs whose argmax is (h, w) (overwrites dx).
//   dy: [N, OH, OW, C]  argmax: [N, OH, OW, C]  dx: [N, H, W, C]
void max_pool2d_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx);

// y = sum over the window's input elements / divisor (see count_include_pad).
//   x: [N, H, W, C]  y: [N, OH, OW, C]
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
// dx[n, h, w, c] = sum over the windows covering (h, w) of dy / divisor (overwrites dx).
//   dy: [N, OH, OW, C]  dx: [N, H, W, C]
void avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx);

}  // namespace hsanet::ops
