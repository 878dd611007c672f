// Attention lab, version 2: the first Highway version (see attention_kernels.h for what it
// taught). One query at a time, vectors along the head dimension d, threads over
// (batch, head). Global attention only.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention_kernels/attention_v2.cc"
#include <omp.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "attention_kernels/attention_kernels.h"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace hsanet::attention_lab {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// This version is only ever run with d a multiple of the vector length (the bench shapes);
// the remainder loops are scalar.

// sum_c a[c] * (b0[c] + b1[c] + b2[c])
HWY_INLINE float Dot3(const float* a, const float* b0, const float* b1, const float* b2, int d) {
  const DF df;
  const int L = hn::Lanes(df);
  auto acc = hn::Zero(df);
  int c = 0;
  for (; c + L <= d; c += L) {
    const auto s =
        hn::Add(hn::Add(hn::LoadU(df, b0 + c), hn::LoadU(df, b1 + c)), hn::LoadU(df, b2 + c));
    acc = hn::MulAdd(hn::LoadU(df, a + c), s, acc);
  }
  float r = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; c < d; ++c) r += a[c] * (b0[c] + b1[c] + b2[c]);
  return r;
}

HWY_INLINE float Dot(const float* a, const float* b, int d) {
  const DF df;
  const int L = hn::Lanes(df);
  auto acc = hn::Zero(df);
  int c = 0;
  for (; c + L <= d; c += L) acc = hn::MulAdd(hn::LoadU(df, a + c), hn::LoadU(df, b + c), acc);
  float r = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; c < d; ++c) r += a[c] * b[c];
  return r;
}

// y += alpha * x
HWY_INLINE void Axpy(float alpha, const float* x, float* y, int d) {
  const DF df;
  const int L = hn::Lanes(df);
  const auto va = hn::Set(df, alpha);
  int c = 0;
  for (; c + L <= d; c += L)
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + c), hn::LoadU(df, y + c)), df, y + c);
  for (; c < d; ++c) y[c] += alpha * x[c];
}

void ForwardV2(const ops::AttentionDims& g, const float* q, const float* k, const float* v,
               const float* rel_h, const float* rel_w, float* out, float* probs) {
  const int H = g.height, W = g.width, N = H * W, d = g.head_dim, heads = g.heads;
  const int64_t ld = g.qkv_stride(), ldo = g.out_stride();
  const float s = 1.f / std::sqrt(float(d));
#pragma omp parallel
  {
    auto row = hwy::AllocateAligned<float>(N + 64);
#pragma omp for schedule(static)
    for (int bh = 0; bh < g.batch * heads; ++bh) {
      const int b = bh / heads, h = bh % heads;
      for (int n = 0; n < N; ++n) {
        const int x = n / W, y = n % W;
        const float* qn = q + (int64_t(b) * N + n) * ld + h * d;
        for (int m = 0; m < N; ++m) {
          const int x2 = m / W, y2 = m % W;
          row[m] = s * Dot3(qn, k + (int64_t(b) * N + m) * ld + h * d, rel_h + (x2 - x + H - 1) * d,
                            rel_w + (y2 - y + W - 1) * d, d);
        }
        ops::HWY_NAMESPACE::SoftmaxRow(row.get(), row.get(), N);
        if (probs) std::memcpy(probs + (int64_t(bh) * N + n) * N, row.get(), N * sizeof(float));
        float* on = out + (int64_t(b) * N + n) * ldo + h * d;
        std::memset(on, 0, d * sizeof(float));
        for (int m = 0; m < N; ++m) Axpy(row[m], v + (int64_t(b) * N + m) * ld + h * d, on, d);
      }
    }
  }
}

void BackwardV2(const ops::AttentionDims& g, const float* q, const float* k, const float* v,
                const float* rel_h, const float* rel_w, const float* probs, const float* dout,
                float* dq, float* dk, float* dv, float* drel_h, float* drel_w) {
  const int H = g.height, W = g.width, N = H * W, d = g.head_dim, heads = g.heads;
  const int Rh = 2 * H - 1, Rw = 2 * W - 1;
  const int64_t ld = g.qkv_stride(), ldo = g.out_stride();
  const float s = 1.f / std::sqrt(float(d));
  for (int64_t i = 0; i < int64_t(g.batch) * N; ++i)
    for (int c = 0; c < g.channels(); ++c) dq[i * ld + c] = dk[i * ld + c] = dv[i * ld + c] = 0;
  const int nt = omp_get_max_threads();
  std::vector<std::vector<float>> part(nt, std::vector<float>(int64_t(Rh + Rw) * d, 0.f));
#pragma omp parallel
  {
    std::vector<float> ds(N);
    float* pr = part[omp_get_thread_num()].data();
#pragma omp for schedule(static)
    for (int bh = 0; bh < g.batch * heads; ++bh) {
      const int b = bh / heads, h = bh % heads;
      for (int n = 0; n < N; ++n) {
        const int x = n / W, y = n % W;
        const int64_t rown = (int64_t(b) * N + n) * ld + h * d;
        const float* gn = dout + (int64_t(b) * N + n) * ldo + h * d;
        const float* p = probs + (int64_t(bh) * N + n) * N;
        float dot = 0;
        for (int m = 0; m < N; ++m) {
          ds[m] = Dot(gn, v + (int64_t(b) * N + m) * ld + h * d, d);  // dP
          dot += p[m] * ds[m];
          Axpy(p[m], gn, dv + (int64_t(b) * N + m) * ld + h * d, d);
        }
        for (int m = 0; m < N; ++m) {
          const int x2 = m / W, y2 = m % W;
          const float t = s * p[m] * (ds[m] - dot);
          const float* km = k + (int64_t(b) * N + m) * ld + h * d;
          Axpy(t, km, dq + rown, d);
          Axpy(t, rel_h + (x2 - x + H - 1) * d, dq + rown, d);
          Axpy(t, rel_w + (y2 - y + W - 1) * d, dq + rown, d);
          Axpy(t, q + rown, dk + (int64_t(b) * N + m) * ld + h * d, d);
          Axpy(t, q + rown, pr + (x2 - x + H - 1) * d, d);
          Axpy(t, q + rown, pr + (Rh + y2 - y + W - 1) * d, d);
        }
      }
    }
  }
  for (int i = 0; i < (Rh + Rw) * d; ++i) {
    float acc = 0;
    for (int t = 0; t < nt; ++t) acc += part[t][i];
    if (i < Rh * d)
      drel_h[i] = acc;
    else
      drel_w[i - Rh * d] = acc;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::attention_lab
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::attention_lab {

HWY_EXPORT(ForwardV2);
HWY_EXPORT(BackwardV2);

void attention_forward_v2(const ops::AttentionDims& dims, const float* q, const float* k,
                          const float* v, const float* rel_h, const float* rel_w, float* out,
                          float* probs) {
  ops::check_attention_dims(dims);
  if (dims.window) throw std::invalid_argument("attention v2: global attention only");
  HWY_DYNAMIC_DISPATCH(ForwardV2)(dims, q, k, v, rel_h, rel_w, out, probs);
}

void attention_backward_v2(const ops::AttentionDims& dims, const float* q, const float* k,
                           const float* v, const float* rel_h, const float* rel_w,
                           const float* probs, const float* dout, float* dq, float* dk, float* dv,
                           float* drel_h, float* drel_w) {
  ops::check_attention_dims(dims);
  if (dims.window) throw std::invalid_argument("attention v2: global attention only");
  if (!dq || !dk || !dv || !drel_h || !drel_w)
    throw std::invalid_argument("attention v2: computes every gradient");
  HWY_DYNAMIC_DISPATCH(BackwardV2)
  (dims, q, k, v, rel_h, rel_w, probs, dout, dq, dk, dv, drel_h, drel_w);
}

}  // namespace hsanet::attention_lab
#endif  // HWY_ONCE
