// Batched matrix multiply on oneDNN's matmul primitive (primitives cached per shape).
#pragma once

#include <cstdint>

namespace hsanet::ops {

// For b in [0, batch):  C[b] (+)= op(A[b]) * op(B[b])
//   A: [batch, M, K], or [batch, K, M] when trans_a
//   B: [batch, K, N], or [batch, N, K] when trans_b      (batch_b = 1 broadcasts B over the batch)
//   C: [batch, M, N];  accumulate adds into C instead of overwriting it.
void matmul(const float* A, const float* B, float* C, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a = false, bool trans_b = false, bool accumulate = false,
            bool broadcast_b = false);

}  // namespace hsanet::ops
