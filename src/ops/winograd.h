// Winograd F(m x m, 3x3) transforms, m = 2 or 4, for 3x3, stride-1, padding-1 convolutions over
// NHWC activations: the kernels around the batched matrix products that make such a convolution
// (docs/winograd.md has the derivation). Each m x m block of outputs comes from an
// (m+2) x (m+2) input tile; with T = (m+2)^2 tile positions t:
//
//   forward           M_t = V_t * U_t^T        V = B^T d B (input),  U = G g G^T (weights)
//                     y   = A^T M A            per tile, clipped to the output
//   backward-data     dM  = A dy A^T           (the adjoint of the output transform)
//                     dV_t = dM_t * U_t,       dx = sum over tiles of B dV B^T
//   backward-weights  dU_t = dM_t^T * V_t,     dw = G^T dU G
//
// F(2x2, 3x3) needs 16 products per 4 outputs (the direct sum 36), F(4x4, 3x3) 36 per 16 (144);
// F(4x4, 3x3) interpolates at 0, 1, -1, 1/2, -2, the best-rounding small set in float32. Every
// backward transform is the exact adjoint of its forward one, so the gradients are those of the
// computation the forward ran.
#pragma once

#include <cstdint>

namespace hsanet::ops::winograd {

// The tiles of an N x H x W map (the output's size equals the input's): m x m output blocks, the
// last row and column of blocks overhanging the map when m does not divide H or W.
struct Tiling {
  int64_t m = 2;  // 2 or 4
  int64_t N = 1, H = 1, W = 1;
  int64_t rows() const { return (H + m - 1) / m; }
  int64_t cols() const { return (W + m - 1) / m; }
  int64_t tiles() const { return N * rows() * cols(); }  // P: tile p = (n, i, j) row-major
  int64_t positions() const { return (m + 2) * (m + 2); }  // T
};

// V[t, p, c] = (B^T d_p B)[t], d_p the input window of tile p (zero outside the map).
//   x: [N, H, W, C]  V: [T, P, C]
void input_transform(const Tiling& tl, int64_t C, const float* x, float* V);
// dx = sum over tiles p of B dV_p B^T, placed at p's input window (overwrites dx).
//   dV: [T, P, C]  dx: [N, H, W, C]
void input_transform_backward(const Tiling& tl, int64_t C, const float* dV, float* dx);

// y at tile p's block = A^T M_p A (+ bias[o] when bias is not null), clipped to the map.
//   M: [T, P, O]  bias: [O]  y: [N, H, W, O]
void output_transform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y);
// dM_p = A dy_p A^T, dy_p tile p's block of dy (zero where it overhangs the map).
//   dy: [N, H, W, O]  dM: [T, P, O]
void output_transform_backward(const Tiling& tl, int64_t O, const float* dy, float* dM);

// U[t, o, c] = (G w[o, c] G^T)[t]: each position's plane in OIHW's own [O, C] order.
//   w: [O, C, 3, 3]  U: [T, O, C]
void weight_transform(int64_t m, int64_t O, int64_t C, const float* w, float* U);
// dw[o, c] = G^T dU[:, o, c] G (overwrites dw).
//   dU: [T, O, C]  dw: [O, C, 3, 3]
void weight_transform_backward(int64_t m, int64_t O, int64_t C, const float* dU, float* dw);

}  // namespace hsanet::ops::winograd
