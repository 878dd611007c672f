// Winograd F(4x4, 3x3) transforms for 3x3, stride-1, padding-1 convolutions over NHWC
// activations: the same scheme as winograd2x2.h with 4x4 output blocks from 6x6 input tiles,
// 36 products per 16 outputs instead of 144 (docs/winograd.md):
//
//   forward           M_t = V_t * U_t^T        V = B^T d B (input),  U = G g G^T (weights)
//                     y   = A^T M A            per tile, clipped to the output
//   backward-data     dM  = A dy A^T,  dV_t = dM_t * U_t,  dx = sum over tiles of B dV B^T
//   backward-weights  dU_t = dM_t^T * V_t,     dw = G^T dU G
//
// for each of the 36 positions t of the 6x6 tile, with the interpolation points 0, 1, -1, 1/2,
// -2 (the best-rounding set for float32; docs/winograd.md).
// Every backward transform is the exact adjoint of its forward one.
#pragma once

#include <cstdint>

namespace hsanet::ops::winograd4x4 {

constexpr int64_t kPositions = 36;  // a 6x6 tile

// The tiles of an N x H x W map (the output's size equals the input's): 4x4 output blocks, the
// last row and column of blocks overhanging the map when H or W is not a multiple of 4.
struct Tiling {
  int64_t N = 1, H = 1, W = 1;
  int64_t rows() const { return (H + 3) / 4; }
  int64_t cols() const { return (W + 3) / 4; }
  int64_t tiles() const { return N * rows() * cols(); }  // P: tile p = (n, i, j) row-major
};

// V[t, p, c] = (B^T d_p B)[t], d_p the 6x6 input window of tile p (zero outside the map).
//   x: [N, H, W, C]  V: [36, P, C]
void input_transform(const Tiling& tl, int64_t C, const float* x, float* V);
// dx = sum over tiles p of B dV_p B^T, placed at p's input window (overwrites dx).
//   dV: [36, P, C]  dx: [N, H, W, C]
void input_transform_backward(const Tiling& tl, int64_t C, const float* dV, float* dx);

// y at tile p's 4x4 block = A^T M_p A (+ bias[o] when bias is not null), clipped to the map.
//   M: [36, P, O]  bias: [O]  y: [N, H, W, O]
void output_transform(const Tiling& tl, int64_t O, const float* M, const float* bias, float* y);
// dM_p = A dy_p A^T, dy_p tile p's 4x4 block of dy (zero where it overhangs the map).
//   dy: [N, H, W, O]  dM: [36, P, O]
void output_transform_backward(const Tiling& tl, int64_t O, const float* dy, float* dM);

// U[t, o, c] = (G w[o, c] G^T)[t].
//   w: [O, C, 3, 3]  U: [36, O, C]
void weight_transform(int64_t O, int64_t C, const float* w, float* U);
// dw[o, c] = G^T dU[:, o, c] G (overwrites dw).
//   dU: [36, O, C]  dw: [O, C, 3, 3]
void weight_transform_backward(int64_t O, int64_t C, const float* dU, float* dw);

}  // namespace hsanet::ops::winograd4x4
