// Highway kernels for elementwise.h. Compiled once per SIMD target (foreach_target.h) and
// dispatched at run time once per call: pointers and sizes cross the dispatch, never vectors.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/elementwise.h"
#include "ops/parallel.h"
#include "ops/simd_tail-inl.h"

#include <vector>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Applies op(va, vb) over n elements: whole vectors, then one masked tail.
template <class Op>
void BinaryLoop(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, float* out, int64_t n,
                Op op) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  parallel_chunks(n, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + L <= end; i += L)
      hn::StoreU(op(d, hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
    if (i < end) {
      const size_t n = static_cast<size_t>(end - i);
      StorePart(op(d, LoadPart(d, a + i, n), LoadPart(d, b + i, n)), d, out + i, n);
    }
  });
}

void AddImpl(const float* a, const float* b, float* out, int64_t n) {
  BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Add(x, y); });
}
void SubImpl(const float* a, const float* b, float* out, int64_t n) {
  BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Sub(x, y); });
}
void MulImpl(const float* a, const float* b, float* out, int64_t n) {
  BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Mul(x, y); });
}
void ScaleImpl(const float* x, float alpha, float* out, int64_t n) {
  BinaryLoop(x, x, out, n, [alpha](auto d, auto v, auto) { return hn::Mul(v, hn::Set(d, alpha)); });
}
void AxpyImpl(float alpha, const float* x, float* y, int64_t n) {
  // y = alpha * x + y, one fused multiply-add per lane.
  BinaryLoop(x, y, y, n,
             [alpha](auto d, auto vx, auto vy) { return hn::MulAdd(hn::Set(d, alpha), vx, vy); });
}
void ReluForwardImpl(const float* x, float* y, int64_t n) {
  BinaryLoop(x, x, y, n, [](auto d, auto v, auto) { return hn::Max(v, hn::Zero(d)); });
}
void ReluBackwardImpl(const float* y, const float* dy, float* dx, int64_t n) {
  BinaryLoop(y, dy, dx, n, [](auto d, auto vy, auto vg) {
    return hn::IfThenElseZero(hn::Gt(vy, hn::Zero(d)), vg);
  });
}

// [rows, C] op per-channel vector [C]. Threads over rows; vectors along the contiguous C.
template <class Op>
void ChannelLoop(const float* HWY_RESTRICT x, const float* HWY_RESTRICT w, float* out,
                 int64_t rows, int64_t C, Op op) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  parallel_chunks(rows * C, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin / C; r * C < end; ++r) {
      const float* xr = x + r * C;
      float* orow = out + r * C;
      int64_t c = 0;
      for (; c + L <= C; c += L)
        hn::StoreU(op(hn::LoadU(d, xr + c), hn::LoadU(d, w + c)), d, orow + c);
      if (c < C) {
        const size_t n = static_cast<size_t>(C - c);
        StorePart(op(LoadPart(d, xr + c, n), LoadPart(d, w + c, n)), d, orow + c, n);
      }
    }
  });
}

void AddChannelImpl(const float* x, const float* bias, float* out, int64_t rows, int64_t C) {
  ChannelLoop(x, bias, out, rows, C, [](auto a, auto b) { return hn::Add(a, b); });
}
void MulChannelImpl(const float* x, const float* w, float* out, int64_t rows, int64_t C) {
  ChannelLoop(x, w, out, rows, C, [](auto a, auto b) { return hn::Mul(a, b); });
}

// out[c] = sum_r f(r, c). Each thread sums a contiguous block of rows into its own partial
// array; the partials are then added in thread order (deterministic for a given thread count).
template <bool kProduct>
void SumRowsImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, float* out,
                 int64_t rows, int64_t C) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  auto sum_block = [&](int64_t r0, int64_t r1, float* HWY_RESTRICT acc) {
    for (int64_t c = 0; c < C; ++c) acc[c] = 0.f;
    for (int64_t r = r0; r < r1; ++r) {
      const float* ar = a + r * C;
      const float* br = b + r * C;
      int64_t c = 0;
      for (; c + L <= C; c += L) {
        auto v = hn::LoadU(d, ar + c);
        if constexpr (kProduct) v = hn::Mul(v, hn::LoadU(d, br + c));
        hn::StoreU(hn::Add(hn::LoadU(d, acc + c), v), d, acc + c);
      }
      for (; c < C; ++c) acc[c] += kProduct ? ar[c] * br[c] : ar[c];
    }
  };
  const int nt = (rows * C < kParallelGrain || omp_in_parallel()) ? 1 : omp_get_max_threads();
  if (nt == 1) {
    sum_block(0, rows, out);
    return;
  }
  std::vector<float> partial(static_cast<size_t>(nt * C));
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int n = omp_get_num_threads();
    const int64_t per = (rows + n - 1) / n;
    const int64_t r0 = std::min(rows, t * per), r1 = std::min(rows, r0 + per);
    sum_block(r0, r1, partial.data() + t * C);
  }
  for (int64_t c = 0; c < C; ++c) out[c] = 0.f;
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < C; ++c) out[c] += partial[t * C + c];
}

void SumRowsPlain(const float* x, float* out, int64_t rows, int64_t C) {
  SumRowsImpl<false>(x, x, out, rows, C);
}
void SumRowsProduct(const float* a, const float* b, float* out, int64_t rows, int64_t C) {
  SumRowsImpl<true>(a, b, out, rows, C);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(AddImpl);
HWY_EXPORT(SubImpl);
HWY_EXPORT(MulImpl);
HWY_EXPORT(ScaleImpl);
HWY_EXPORT(AxpyImpl);
HWY_EXPORT(ReluForwardImpl);
HWY_EXPORT(ReluBackwardImpl);
HWY_EXPORT(AddChannelImpl);
HWY_EXPORT(MulChannelImpl);
HWY_EXPORT(SumRowsPlain);
HWY_EXPORT(SumRowsProduct);

void add(const float* a, const float* b, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(a, b, out, n); }
void sub(const float* a, const float* b, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(SubImpl)(a, b, out, n); }
void mul(const float* a, const float* b, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(MulImpl)(a, b, out, n); }
void scale(const float* x, float alpha, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(ScaleImpl)(x, alpha, out, n); }
void add_inplace(float* acc, const float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(AddImpl)(acc, x, acc, n); }
void axpy(float alpha, const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(AxpyImpl)(alpha, x, y, n); }
void relu_forward(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(ReluForwardImpl)(x, y, n); }
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ReluBackwardImpl)(y, dy, dx, n);
}
void add_channel(const float* x, const float* bias, float* out, int64_t rows, int64_t C) {
  HWY_DYNAMIC_DISPATCH(AddChannelImpl)(x, bias, out, rows, C);
}
void mul_channel(const float* x, const float* w, float* out, int64_t rows, int64_t C) {
  HWY_DYNAMIC_DISPATCH(MulChannelImpl)(x, w, out, rows, C);
}
void sum_rows(const float* x, float* out, int64_t rows, int64_t C) {
  HWY_DYNAMIC_DISPATCH(SumRowsPlain)(x, out, rows, C);
}
void sum_rows_product(const float* a, const float* b, float* out, int64_t rows, int64_t C) {
  HWY_DYNAMIC_DISPATCH(SumRowsProduct)(a, b, out, rows, C);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
