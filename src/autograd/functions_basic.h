// Differentiable basic functions: each runs a kernel from src/ops and records its backward.
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/tensor.h"

namespace hsanet {

// a + b, a - b, a * b. b has a's shape, or is a vector [C] broadcast over a's last dimension
// (a per-channel bias or scale on an NHWC tensor).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float alpha);
Tensor relu(const Tensor& x);

// Matrix product: [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// y = x W^T + b:  x [N, in], weight [out, in] (PyTorch layout), bias [out] (may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Shape changes. reshape is a view (no copy); transpose swaps two dimensions (a copy).
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int dim0, int dim1);

// Reductions to a one-element tensor [1].
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

// NHWC [N, H, W, C] -> [N, C], the mean over H and W.
Tensor global_avg_pool(const Tensor& x);

}  // namespace hsanet
