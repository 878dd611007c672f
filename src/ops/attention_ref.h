// Scalar reference of the attention core (attention.h), templated on the number type so that the
// gradient checks run it in double. Written straight from the definition, one query and one key
// at a time: slow on purpose, obviously right, and the yardstick for every fast version (Highway,
// CUDA). Same argument conventions as attention.h: q/k/v/dq/dk/dv through dims.ld, out/dout
// through dims.ld_out, probs [B, heads, N, keys], rel tables shared by all heads.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/attention.h"
#include "ops/attention_window.h"

namespace hsanet::ops::ref {

// The key that slot m of query (x, y) looks at (attention_window.h: the one definition).
inline KeySlot key_slot(const AttentionDims& dims, int x, int y, int m) {
  return ops::key_slot(dims.height, dims.width, dims.window, x, y, m);
}

// Forward. probs may be null.
//   q, k, v : [B, N, ld]    rel_h : [rel_rows_h, d]    rel_w : [rel_rows_w, d]
//   out     : [B, N, ld_out]    probs : [B, heads, N, keys]
template <typename T>
void attention_forward(const AttentionDims& dims, const T* q, const T* k, const T* v,
                       const T* rel_h, const T* rel_w, T* out, T* probs) {
  const int B = dims.batch, H = dims.height, W = dims.width, N = H * W;
  const int heads = dims.heads, d = dims.head_dim, M = dims.keys();
  const int64_t ld = dims.qkv_stride();
  const int64_t ldo = dims.out_stride();
  const T scale = T(1) / std::sqrt(T(d));
  std::vector<T> logit(M), p(M);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < heads; ++h)
      for (int n = 0; n < N; ++n) {
        const int x = n / W, y = n % W;
        const T* qn = q + (int64_t(b) * N + n) * ld + h * d;
        // logit[m] = (s q) . (k_m + rel_h[row_h] + rel_w[row_w])
        T mx = -INFINITY;
        for (int m = 0; m < M; ++m) {
          const KeySlot s = key_slot(dims, x, y, m);
          if (!s.valid) continue;
          const T* km = k + (int64_t(b) * N + s.key) * ld + h * d;
          T acc = 0;
          for (int c = 0; c < d; ++c)
            acc += scale * qn[c] * (km[c] + rel_h[s.row_h * d + c] + rel_w[s.row_w * d + c]);
          logit[m] = acc;
          if (acc > mx) mx = acc;
        }
        // P = softmax over the valid keys; masked slots take probability 0.
        T sum = 0;
        for (int m = 0; m < M; ++m) {
          p[m] = key_slot(dims, x, y, m).valid ? std::exp(logit[m] - mx) : T(0);
          sum += p[m];
        }
        for (int m = 0; m < M; ++m) p[m] /= sum;
        if (probs)
          for (int m = 0; m < M; ++m) probs[((int64_t(b) * heads + h) * N + n) * M + m] = p[m];
        // out_n = sum_m P[m] v_m
        T* on = out + (int64_t(b) * N + n) * ldo + h * d;
        for (int c = 0; c < d; ++c) on[c] = 0;
        for (int m = 0; m < M; ++m) {
          const KeySlot s = key_slot(dims, x, y, m);
          if (!s.valid) continue;
          const T* vm = v + (int64_t(b) * N + s.key) * ld + h * d;
          for (int c = 0; c < d; ++c) on[c] += p[m] * vm[c];
        }
      }
}

// Backward. Overwrites dq, dk, dv (first C channels of each row), drel_h, drel_w; any gradient
// pointer may be null. probs is what the forward saved.
//   dP[m]     = dout_n . v_m                          (out_n = sum_m P[m] v_m)
//   dv_m     += P[m] dout_n
//   dlogit[m] = P[m] (dP[m] - sum_m' P[m'] dP[m'])     (softmax)
//   dq_n      = s * sum_m dlogit[m] (k_m + rel_h[row_h] + rel_w[row_w])
//   dk_m     += dlogit[m] s q_n,  drel_h[row_h] += dlogit[m] s q_n,  drel_w[row_w] += same
template <typename T>
void attention_backward(const AttentionDims& dims, const T* q, const T* k, const T* v,
                        const T* rel_h, const T* rel_w, const T* probs, const T* dout, T* dq, T* dk,
                        T* dv, T* drel_h, T* drel_w) {
  const int B = dims.batch, H = dims.height, W = dims.width, N = H * W;
  const int heads = dims.heads, d = dims.head_dim, C = dims.channels(), M = dims.keys();
  const int64_t ld = dims.qkv_stride();
  const int64_t ldo = dims.out_stride();
  const T scale = T(1) / std::sqrt(T(d));
  for (int64_t i = 0; i < int64_t(B) * N; ++i)
    for (int c = 0; c < C; ++c) {
      if (dq) dq[i * ld + c] = 0;
      if (dk) dk[i * ld + c] = 0;
      if (dv) dv[i * ld + c] = 0;
    }
  if (drel_h)
    for (int64_t i = 0; i < int64_t(dims.rel_rows_h()) * d; ++i) drel_h[i] = 0;
  if (drel_w)
    for (int64_t i = 0; i < int64_t(dims.rel_rows_w()) * d; ++i) drel_w[i] = 0;
  std::vector<T> dlogit(M);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < heads; ++h)
      for (int n = 0; n < N; ++n) {
        const int x = n / W, y = n % W;
        const T* qn = q + (int64_t(b) * N + n) * ld + h * d;
        const T* gn = dout + (int64_t(b) * N + n) * ldo + h * d;
        const T* p = probs + ((int64_t(b) * heads + h) * N + n) * M;
        T dot = 0;  // sum_m P[m] dP[m]
        for (int m = 0; m < M; ++m) {
          const KeySlot s = key_slot(dims, x, y, m);
          dlogit[m] = 0;
          if (!s.valid) continue;
          const T* vm = v + (int64_t(b) * N + s.key) * ld + h * d;
          T dp = 0;
          for (int c = 0; c < d; ++c) dp += gn[c] * vm[c];
          dlogit[m] = dp;
          dot += p[m] * dp;
          if (dv) {
            T* dvm = dv + (int64_t(b) * N + s.key) * ld + h * d;
            for (int c = 0; c < d; ++c) dvm[c] += p[m] * gn[c];
          }
        }
        for (int m = 0; m < M; ++m) dlogit[m] = p[m] * (dlogit[m] - dot);
        for (int m = 0; m < M; ++m) {
          const KeySlot s = key_slot(dims, x, y, m);
          if (!s.valid) continue;
          const T* km = k + (int64_t(b) * N + s.key) * ld + h * d;
          const T* eh = rel_h + s.row_h * d;
          const T* ew = rel_w + s.row_w * d;
          for (int c = 0; c < d; ++c) {
            const T sq = dlogit[m] * scale * qn[c];
            if (dq)
              dq[(int64_t(b) * N + n) * ld + h * d + c] +=
                  dlogit[m] * scale * (km[c] + eh[c] + ew[c]);
            if (dk) dk[(int64_t(b) * N + s.key) * ld + h * d + c] += sq;
            if (drel_h) drel_h[s.row_h * d + c] += sq;
            if (drel_w) drel_w[s.row_w * d + c] += sq;
          }
        }
      }
}

}  // namespace hsanet::ops::ref
