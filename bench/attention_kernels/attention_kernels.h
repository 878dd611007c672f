// The attention kernel lab: numbered versions of the attention core (ops/attention.h), each
// with the same arguments as attention_forward / attention_backward, so bench_attention can
// validate every one against the scalar reference and time them side by side.
//
//   v1  ops::ref (attention_ref.h) in float: loops over query, key and channel, straight from
//       the definition. The yardstick, and the speed of "no thought given to speed".
//   v2  attention_v2.cc: the first Highway version. One query at a time, vectors along the
//       head dimension d: each logit is a dot product (with k + rel_h + rel_w summed first),
//       out is a sum of P-weighted v rows. It teaches that SIMD alone is not enough here:
//       every key row is loaded once per query, so the loop is bound by loads and horizontal
//       sums, not by FMAs.
//   v3  attention_v3.cc: the products as register-tiled GEMMs (6 query rows x 64 keys of
//       accumulators on AVX-512, each loaded value used 4-6 times), K^T packed once per head,
//       the relative logits computed once per query as a [N, 2H-1 + 2W-1] table and gathered,
//       the backward as four more GEMMs with the gather's adjoint in between. It taught that
//       at this size the GEMMs are fast and everything around them is not: B operands read in
//       place at the qkv stride (1536 floats) thrash L1 (the rows share a few sets), scalar
//       transposes cost a tenth of the forward, the separate relative-logit GEMM and a
//       one-vector column tail waste passes, and a fresh workspace per call page-faults.
//   v4  ops/attention.cc (promoted): v3 with q/k/v/dout packed into dense per-head rows, 4x4
//       register transposes, [K^T | rel^T] in one GEMM (and [dS | dR] x [K; rel] in backward),
//       the gather fused with the softmax's max pass and P written once, per-thread scratch
//       kept between calls, and an 8 x 3 register tile instead of 6 x 4 (its B panel still
//       fits L1 when the inner dimension is N = 196).
#pragma once

#include "ops/attention.h"

namespace hsanet::attention_lab {

// v2: global attention only (dims.window must be 0).
void attention_forward_v2(const ops::AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs);
void attention_backward_v2(const ops::AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w);

// v3: global and local, every gradient optional (same contract as ops/attention.h).
void attention_forward_v3(const ops::AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs);
void attention_backward_v3(const ops::AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w);

}  // namespace hsanet::attention_lab
