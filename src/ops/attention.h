// Multi-head self-attention core with 2-D relative position logits (BoTNet), global or local
// (K x K window). Definitions: docs/attention.md and the model contract (docs/model_contract.md).
//
// Layout: positions n = x * W + y (row-major over the H x W map, x = row, y = column).
// q, k, v are read through row pointers with a leading dimension `ld` (floats between two
// positions), so the fused qkv 1x1-convolution output [B, H, W, 3C] (NHWC) is used in place:
// q = qkv, k = qkv + C, v = qkv + 2C, ld = 3C. Head j owns channels j*d .. j*d + d - 1.
// The kernels scale q by 1/sqrt(d) themselves: callers pass the raw projection.
#pragma once

#include <cstdint>

namespace hsanet::ops {

struct AttentionDims {
  int batch = 1;
  int height = 1;     // H: rows of the map
  int width = 1;      // W: columns of the map
  int heads = 4;
  int head_dim = 1;   // d; C = heads * d
  int window = 0;     // 0: global attention; K (odd): local K x K window attention
  int64_t ld = 0;     // row stride of q, k, v and of dq, dk, dv (>= C); 0 means C
  int64_t ld_out = 0; // row stride of out and dout; 0 means C

  int channels() const { return heads * head_dim; }
  int64_t qkv_stride() const { return ld ? ld : channels(); }      // ld with its default
  int64_t out_stride() const { return ld_out ? ld_out : channels(); }  // ld_out with its default
  int positions() const { return height * width; }
  // Keys per query: N for global attention, K*K for local.
  int keys() const { return window ? window * window : height * width; }
  int rel_rows_h() const { return window ? window : 2 * height - 1; }  // rows of rel_height
  int rel_rows_w() const { return window ? window : 2 * width - 1; }   // rows of rel_width
  int64_t probs_size() const { return int64_t(batch) * heads * positions() * keys(); }
};

// Throws std::invalid_argument with a clear message for impossible dims (heads <= 0, even K...).
void check_attention_dims(const AttentionDims& dims);

// Forward.
//   q, k, v : [B, N, ld]  (first C channels used)
//   rel_h   : [rel_rows_h, d],  rel_w : [rel_rows_w, d]   (shared by all heads)
//   out     : [B, N, ld_out]  heads concatenated back to C channels
//   probs   : [B, heads, N, keys]  softmax probabilities, saved for backward (may be null when
//             no backward will follow). Local: key slot (i, j) of the window is the key at
//             (x + i - r, y + j - r), r = (K-1)/2; slots outside the map hold probability 0.
void attention_forward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                       const float* rel_h, const float* rel_w, float* out, float* probs);

// Backward. Overwrites dq, dk, dv (first C channels of each row), drel_h and drel_w.
// Any of the gradient pointers may be null when that gradient is not needed.
void attention_backward(const AttentionDims& dims, const float* q, const float* k, const float* v,
                        const float* rel_h, const float* rel_w, const float* probs,
                        const float* dout, float* dq, float* dk, float* dv, float* drel_h,
                        float* drel_w);

}  // namespace hsanet::ops
