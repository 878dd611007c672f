// Highway kernels for batchnorm.h. docs/batchnorm.md has the derivation and the measurements.
//
// Batch norm is memory-bound (a few flops per element), so the kernels are organised around
// passes over memory, each vectorised along the contiguous channel axis and threaded over rows:
//   forward (training): one reduction pass (sums of x and x^2), one normalising pass;
//   backward:           one reduction pass (sums of g and g * (x - mean)), one dx pass.
// Reductions: each thread sums a contiguous block of rows into its own partial arrays, which are
// added in thread order afterwards -- no atomics, and the same bits for the same thread count.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/batchnorm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "ops/simd_tail-inl.h"
#include "ops/bf16-inl.h"
#include "ops/bf16_ref.h"
#include "ops/batchnorm.h"
#include "ops/parallel.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

HWY_BEFORE_NAMESPACE();
namespace hsanet::ops {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows are summed into float accumulators for at most this many rows, then flushed into double
// partials: float keeps the inner loop at full vector width, and flushing bounds the rounding
// error of a sum to that of a 64-term float sum however many rows there are.
constexpr int64_t kFlushRows = 64;
constexpr int64_t kTileRows = 8;

// One element of x as float32: x is float32, or bf16 (a bf16 convolution's output, see
// batchnorm.h); the kernels below are templates over that type T, loading through LoadF32 and
// storing dx through StoreF32 (bf16-inl.h).
inline float ToF32(float v) { return v; }
inline float ToF32(uint16_t b) { return ref::bf16_to_float(b); }

// out1[c] = sum_r a_r[c], out2[c] = sum_r b_r[c], where acc(r, c, n, &s1, &s2) adds the
// vectors a_r[c..c+n) and b_r[c..c+n) of row r into s1 and s2.
//   out1, out2: [C] (double)
template <class Acc>
void ReduceRows(int64_t rows, int64_t C, const Acc& acc, double* out1, double* out2) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const int nt = (rows * C < kParallelGrain || omp_in_parallel()) ? 1 : omp_get_max_threads();
  std::vector<double> partial(static_cast<size_t>(2 * nt * C), 0.0);
  auto sum_block = [&](int64_t r0, int64_t r1, double* p1, double* p2) {
    auto f = hwy::AllocateAligned<float>(static_cast<size_t>(2 * C));
    float* f1 = f.get();
    float* f2 = f1 + C;
    for (int64_t rb = r0; rb < r1; rb += kFlushRows) {
      std::fill(f1, f1 + 2 * C, 0.f);
      const int64_t re = std::min(r1, rb + kFlushRows);
      // Tiles of kTileRows rows: within a tile the channel block is outermost, so s1 and s2
      // stay in registers across the tile's rows, and each channel block moves every row's
      // read on by one cache line -- a few sequential streams the prefetchers follow, where a
      // whole flush block per channel block would stride through memory a row at a time.
      for (int64_t rt = rb; rt < re; rt += kTileRows) {
        const int64_t te = std::min(re, rt + kTileRows);
        for (int64_t c = 0; c < C; c += L) {
          const size_t n = static_cast<size_t>(std::min(L, C - c));
          auto s1 = LoadPart(d, f1 + c, n), s2 = LoadPart(d, f2 + c, n);
          for (int64_t r = rt; r < te; ++r) acc(r, c, n, s1, s2);
          StorePart(s1, d, f1 + c, n);
          StorePart(s2, d, f2 + c, n);
        }
      }
      for (int64_t c = 0; c < C; ++c) p1[c] += f1[c], p2[c] += f2[c];
    }
  };
  if (nt == 1) {
    sum_block(0, rows, partial.data(), partial.data() + C);
  } else {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t per = (rows + n - 1) / n;
      const int64_t r0 = std::min(rows, t * per), r1 = std::min(rows, r0 + per);
      sum_block(r0, r1, partial.data() + 2 * t * C, partial.data() + (2 * t + 1) * C);
    }
  }
  for (int64_t c = 0; c < C; ++c) out1[c] = 0, out2[c] = 0;
  for (int t = 0; t < nt; ++t)  // fixed order: deterministic for a given thread count
    for (int64_t c = 0; c < C; ++c)
      out1[c] += partial[2 * t * C + c], out2[c] += partial[(2 * t + 1) * C + c];
}

// Normalize's rows [r0, r1). The pointers come in as parameters, not as a lambda's captures:
// vector stores may alias any memory, so captured ones would be reloaded after each store
// (bench_batchnorm, 56x56x256 from warm caches: evaluation 507 -> 456 us, training forward
// 842 -> 755 us; inside a training step, where the pass waits on memory, no change).
template <class T, class U>
void NormalizeRows(const T* HWY_RESTRICT x, const float* HWY_RESTRICT residual,
                   const float* HWY_RESTRICT center, const float* HWY_RESTRICT scale,
                   const float* HWY_RESTRICT beta, bool relu, U* HWY_RESTRICT y, int64_t r0,
                   int64_t r1, int64_t C) {
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * C;
    for (int64_t c = 0; c < C; c += L) {
      const size_t n = static_cast<size_t>(std::min(L, C - c));
      const auto xc = hn::Sub(LoadF32(d, x + o + c, n), LoadPart(d, center + c, n));
      auto v = hn::MulAdd(xc, LoadPart(d, scale + c, n), LoadPart(d, beta + c, n));
      if (residual) v = hn::Add(v, LoadPart(d, residual + o + c, n));
      if (relu) v = hn::Max(v, hn::Zero(d));
      StoreF32(v, d, y + o + c, n);
    }
  }
}

// y = act((x - center[c]) * scale[c] + beta[c] [+ residual]). Subtracting the mean before
// scaling costs one vector op in a memory-bound loop and avoids the cancellation of the folded
// form x * scale + (beta - mean * scale) when |mean| >> std.
//   x, residual, y: [rows, C]  center, scale, beta: [C]
template <class T, class U>
void Normalize(const T* x, const float* residual, const float* center, const float* scale,
               const float* beta, bool relu, U* y, int64_t rows, int64_t C) {
  // parallel_chunks splits elements (so small arrays stay on one thread); each chunk takes the
  // rows that start inside it.
  parallel_chunks(rows * C, [&](int64_t e0, int64_t e1) {
    const int64_t r0 = (e0 + C - 1) / C, r1 = std::min(rows, (e1 + C - 1) / C);
    NormalizeRows(x, residual, center, scale, beta, relu, y, r0, r1, C);
  });
}

template <class T, class U>
void ForwardTrain(const T* x, const float* gamma, const float* beta, const float* residual,
                  U* y, float* mean, float* invstd, float* running_mean, float* running_var,
                  int64_t rows, int64_t C, const BatchNormOptions& opt) {
  // x, residual, y: [rows, C]  gamma, beta, mean, invstd, running_*: [C]
  const hn::ScalableTag<float> d;
  // Sums of x - k and (x - k)^2 with k = the first row: shifting by a sample value keeps
  // sum(x^2) - sum(x)^2/n from cancelling catastrophically when |mean| >> std.
  const T* k = x;
  std::vector<double> s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C));
  ReduceRows(
      rows, C,
      [&](int64_t r, int64_t c, size_t n, auto& a1, auto& a2) {
        const auto v = hn::Sub(LoadF32(d, x + r * C + c, n), LoadF32(d, k + c, n));
        a1 = hn::Add(a1, v);
        a2 = hn::MulAdd(v, v, a2);
      },
      s1.data(), s2.data());
  const double inv_n = 1.0 / static_cast<double>(rows);
  std::vector<float> scale(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double m_shifted = s1[c] * inv_n;
    const double var = std::max(0.0, s2[c] * inv_n - m_shifted * m_shifted);  // biased
    const double m = m_shifted + static_cast<double>(ToF32(k[c]));
    const double is = 1.0 / std::sqrt(var + static_cast<double>(opt.eps));
    mean[c] = static_cast<float>(m);
    invstd[c] = static_cast<float>(is);
    // From the saved float invstd, so that backward can recompute the ReLU's mask bit for bit.
    scale[c] = gamma[c] * invstd[c];
    if (running_mean)
      running_mean[c] = static_cast<float>((1.0 - opt.momentum) * running_mean[c] + opt.momentum * m);
    if (running_var) {  // the unbiased variance, var * n / (n - 1)
      const double unbiased = var * static_cast<double>(rows) / static_cast<double>(rows - 1);
      running_var[c] =
          static_cast<float>((1.0 - opt.momentum) * running_var[c] + opt.momentum * unbiased);
    }
  }
  Normalize(x, residual, mean, scale.data(), beta, opt.relu, y, rows, C);
}

template <class T, class U>
void ForwardEval(const T* x, const float* gamma, const float* beta, const float* residual,
                 const float* running_mean, const float* running_var, U* y, int64_t rows,
                 int64_t C, const BatchNormOptions& opt) {
  std::vector<float> scale(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    scale[c] = static_cast<float>(gamma[c] / std::sqrt(static_cast<double>(running_var[c]) + opt.eps));
  Normalize(x, residual, running_mean, scale.data(), beta, opt.relu, y, rows, C);
}

// dx has x's type: a bf16 x is a bf16 convolution's output, whose backward reads a bf16 gradient.
template <class T>
void Backward(const T* x, const float* y, const float* dy, const float* mean,
              const float* invstd, const float* gamma, const float* beta, T* dx,
              float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
              bool batch_stats, const BatchNormOptions& opt) {
  // x, y, dy, dx, dresidual: [rows, C]  mean, invstd, gamma, beta, dgamma, dbeta: [C]
  const hn::ScalableTag<float> d;
  const int64_t L = hn::Lanes(d);
  const bool relu = opt.relu;
  // The fused ReLU's mask: y > 0, or, without y, its pre-activation recomputed from x exactly as
  // Normalize computed it (scale = gamma * invstd in float, as ForwardTrain rounds it):
  //   scale: [C]
  std::vector<float> scale(relu && !y ? static_cast<size_t>(C) : 0);
  for (size_t c = 0; c < scale.size(); ++c) scale[c] = gamma[c] * invstd[c];
  // g = dL/d(bn(x) [+ residual]): dy, masked by the ReLU. xc = x - mean at the same elements.
  auto grad_at = [&](int64_t o, int64_t c, size_t n, decltype(hn::Zero(d)) xc) {
    const auto g = LoadPart(d, dy + o + c, n);
    if (!relu) return g;
    const auto pre = y ? LoadPart(d, y + o + c, n)
                       : hn::MulAdd(xc, LoadPart(d, scale.data() + c, n), LoadPart(d, beta + c, n));
    return hn::IfThenElseZero(hn::Gt(pre, hn::Zero(d)), g);
  };
  auto centered = [&](int64_t o, int64_t c, size_t n) {
    return hn::Sub(LoadF32(d, x + o + c, n), LoadPart(d, mean + c, n));
  };
  // Pass 1: sum_g[c] = sum_r g, sum_gx[c] = sum_r g * (x - mean). It also stores g as the
  // residual's gradient, which pass 2 then reads instead of dy and the mask: one stream fewer.
  std::vector<double> sum_g(static_cast<size_t>(C)), sum_gx(static_cast<size_t>(C));
  const bool need_sums = dgamma || dbeta || (dx && batch_stats);
  if (need_sums)
    ReduceRows(
        rows, C,
        [&](int64_t r, int64_t c, size_t n, auto& a1, auto& a2) {
          const auto xc = centered(r * C, c, n);
          const auto g = grad_at(r * C, c, n, xc);
          if (dresidual) StorePart(g, d, dresidual + r * C + c, n);
          a1 = hn::Add(a1, g);
          a2 = hn::MulAdd(g, xc, a2);
        },
        sum_g.data(), sum_gx.data());
  for (int64_t c = 0; c < C; ++c) {
    // From y = gamma * xhat + beta with xhat = (x - mean) * invstd:
    if (dbeta) dbeta[c] = static_cast<float>(sum_g[c]);
    if (dgamma) dgamma[c] = static_cast<float>(sum_gx[c] * invstd[c]);
  }
  if (!dx && !dresidual) return;
  if (!dx && need_sums) return;  // dresidual was written by pass 1
  // Pass 2: dx = a*g + e - b*(x - mean) per channel (see docs/batchnorm.md):
  //   a = gamma*invstd,  b = a*invstd^2*sum_gx/n,  e = -a*sum_g/n
  // and with fixed (running) statistics b = e = 0.
  std::vector<float> a(static_cast<size_t>(C)), b(static_cast<size_t>(C)), e(static_cast<size_t>(C));
  const double inv_n = 1.0 / static_cast<double>(rows);
  for (int64_t c = 0; c < C; ++c) {
    const double ac = static_cast<double>(gamma[c]) * invstd[c];
    a[c] = static_cast<float>(ac);
    b[c] = batch_stats ? static_cast<float>(ac * invstd[c] * invstd[c] * sum_gx[c] * inv_n) : 0.f;
    e[c] = batch_stats ? static_cast<float>(-ac * sum_g[c] * inv_n) : 0.f;
  }
  const bool g_stored = dresidual && need_sums;
  // x is read only where it is needed: the statistics' term, or the recomputed mask.
  const bool need_x = batch_stats || (relu && !y && !g_stored);
  parallel_chunks(rows * C, [&](int64_t e0, int64_t e1) {
    for (int64_t r = (e0 + C - 1) / C; r * C < e1 && r < rows; ++r) {
      const int64_t o = r * C;
      for (int64_t c = 0; c < C; c += L) {
        const size_t n = static_cast<size_t>(std::min(L, C - c));
        const auto xc = need_x ? centered(o, c, n) : hn::Zero(d);
        const auto g = g_stored ? LoadPart(d, dresidual + o + c, n) : grad_at(o, c, n, xc);
        if (dresidual && !g_stored) StorePart(g, d, dresidual + o + c, n);
        if (!dx) continue;
        auto v = hn::MulAdd(LoadPart(d, a.data() + c, n), g, LoadPart(d, e.data() + c, n));
        if (batch_stats) v = hn::NegMulAdd(LoadPart(d, b.data() + c, n), xc, v);
        StoreF32(v, d, dx + o + c, n);
      }
    }
  });
}

// The exported instances: float32 x, and bf16 x (with bf16 dx).
void ForwardTrainF32(const float* x, const float* gamma, const float* beta, const float* residual,
                     float* y, float* mean, float* invstd, float* running_mean, float* running_var,
                     int64_t rows, int64_t C, const BatchNormOptions& opt) {
  ForwardTrain(x, gamma, beta, residual, y, mean, invstd, running_mean, running_var, rows, C, opt);
}
void ForwardTrainBf16(const uint16_t* x, const float* gamma, const float* beta,
                      const float* residual, float* y, float* mean, float* invstd,
                      float* running_mean, float* running_var, int64_t rows, int64_t C,
                      const BatchNormOptions& opt) {
  ForwardTrain(x, gamma, beta, residual, y, mean, invstd, running_mean, running_var, rows, C, opt);
}
void ForwardTrainBf16Out(const uint16_t* x, const float* gamma, const float* beta,
                         const float* residual, uint16_t* y, float* mean, float* invstd,
                         float* running_mean, float* running_var, int64_t rows, int64_t C,
                         const BatchNormOptions& opt) {
  ForwardTrain(x, gamma, beta, residual, y, mean, invstd, running_mean, running_var, rows, C, opt);
}
void ForwardEvalBf16Out(const uint16_t* x, const float* gamma, const float* beta,
                        const float* residual, const float* running_mean, const float* running_var,
                        uint16_t* y, int64_t rows, int64_t C, const BatchNormOptions& opt) {
  ForwardEval(x, gamma, beta, residual, running_mean, running_var, y, rows, C, opt);
}
void ForwardEvalF32(const float* x, const float* gamma, const float* beta, const float* residual,
                    const float* running_mean, const float* running_var, float* y, int64_t rows,
                    int64_t C, const BatchNormOptions& opt) {
  ForwardEval(x, gamma, beta, residual, running_mean, running_var, y, rows, C, opt);
}
void ForwardEvalBf16(const uint16_t* x, const float* gamma, const float* beta,
                     const float* residual, const float* running_mean, const float* running_var,
                     float* y, int64_t rows, int64_t C, const BatchNormOptions& opt) {
  ForwardEval(x, gamma, beta, residual, running_mean, running_var, y, rows, C, opt);
}
void BackwardF32(const float* x, const float* y, const float* dy, const float* mean,
                 const float* invstd, const float* gamma, const float* beta, float* dx,
                 float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                 bool batch_stats, const BatchNormOptions& opt) {
  Backward(x, y, dy, mean, invstd, gamma, beta, dx, dresidual, dgamma, dbeta, rows, C,
           batch_stats, opt);
}
void BackwardBf16(const uint16_t* x, const float* y, const float* dy, const float* mean,
                  const float* invstd, const float* gamma, const float* beta, uint16_t* dx,
                  float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                  bool batch_stats, const BatchNormOptions& opt) {
  Backward(x, y, dy, mean, invstd, gamma, beta, dx, dresidual, dgamma, dbeta, rows, C,
           batch_stats, opt);
}

}  // namespace HWY_NAMESPACE
}  // namespace hsanet::ops
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace hsanet::ops {

HWY_EXPORT(ForwardTrainF32);
HWY_EXPORT(ForwardTrainBf16);
HWY_EXPORT(ForwardEvalF32);
HWY_EXPORT(ForwardEvalBf16);
HWY_EXPORT(ForwardTrainBf16Out);
HWY_EXPORT(ForwardEvalBf16Out);
HWY_EXPORT(BackwardF32);
HWY_EXPORT(BackwardBf16);

namespace {
void check_sizes(int64_t rows, int64_t C, const char* op) {
  if (rows <= 0 || C <= 0)
    throw std::invalid_argument(std::string(op) + ": rows (" + std::to_string(rows) +
                                ") and channels (" + std::to_string(C) + ") must be positive");
}
void check_train_rows(int64_t rows, int64_t C) {
  check_sizes(rows, C, "batchnorm_forward_train");
  if (rows < 2)
    throw std::invalid_argument(
        "batchnorm_forward_train: training needs more than one value per channel, got " +
        std::to_string(rows) + " row(s) of " + std::to_string(C) + " channels");
}
void check_backward(int64_t rows, int64_t C, const float* y, const float* beta,
                    const float* dresidual, const BatchNormOptions& opt) {
  check_sizes(rows, C, "batchnorm_backward");
  if (opt.relu && !y && (!beta || dresidual))
    throw std::invalid_argument(
        "batchnorm_backward: the fused ReLU needs the forward output y, or beta and no residual "
        "to recompute its mask from x");
}
}  // namespace

void batchnorm_forward_train(const float* x, const float* gamma, const float* beta,
                             const float* residual, float* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt) {
  check_train_rows(rows, C);
  HWY_DYNAMIC_DISPATCH(ForwardTrainF32)(x, gamma, beta, residual, y, mean, invstd, running_mean,
                                        running_var, rows, C, opt);
}
void batchnorm_forward_train(const uint16_t* x, const float* gamma, const float* beta,
                             const float* residual, float* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt) {
  check_train_rows(rows, C);
  HWY_DYNAMIC_DISPATCH(ForwardTrainBf16)(x, gamma, beta, residual, y, mean, invstd, running_mean,
                                         running_var, rows, C, opt);
}

void batchnorm_forward_train(const uint16_t* x, const float* gamma, const float* beta,
                             const float* residual, uint16_t* y, float* mean, float* invstd,
                             float* running_mean, float* running_var, int64_t rows, int64_t C,
                             const BatchNormOptions& opt) {
  check_train_rows(rows, C);
  HWY_DYNAMIC_DISPATCH(ForwardTrainBf16Out)(x, gamma, beta, residual, y, mean, invstd,
                                            running_mean, running_var, rows, C, opt);
}
void batchnorm_forward_eval(const uint16_t* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, uint16_t* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt) {
  check_sizes(rows, C, "batchnorm_forward_eval");
  HWY_DYNAMIC_DISPATCH(ForwardEvalBf16Out)(x, gamma, beta, residual, running_mean, running_var,
                                           y, rows, C, opt);
}

void batchnorm_forward_eval(const float* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, float* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt) {
  check_sizes(rows, C, "batchnorm_forward_eval");
  HWY_DYNAMIC_DISPATCH(ForwardEvalF32)(x, gamma, beta, residual, running_mean, running_var, y,
                                       rows, C, opt);
}
void batchnorm_forward_eval(const uint16_t* x, const float* gamma, const float* beta,
                            const float* residual, const float* running_mean,
                            const float* running_var, float* y, int64_t rows, int64_t C,
                            const BatchNormOptions& opt) {
  check_sizes(rows, C, "batchnorm_forward_eval");
  HWY_DYNAMIC_DISPATCH(ForwardEvalBf16)(x, gamma, beta, residual, running_mean, running_var, y,
                                        rows, C, opt);
}

void batchnorm_backward(const float* x, const float* y, const float* dy, const float* mean,
                        const float* invstd, const float* gamma, const float* beta, float* dx,
                        float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                        bool batch_stats, const BatchNormOptions& opt) {
  check_backward(rows, C, y, beta, dresidual, opt);
  HWY_DYNAMIC_DISPATCH(BackwardF32)(x, y, dy, mean, invstd, gamma, beta, dx, dresidual, dgamma,
                                    dbeta, rows, C, batch_stats, opt);
}
void batchnorm_backward(const uint16_t* x, const float* y, const float* dy, const float* mean,
                        const float* invstd, const float* gamma, const float* beta, uint16_t* dx,
                        float* dresidual, float* dgamma, float* dbeta, int64_t rows, int64_t C,
                        bool batch_stats, const BatchNormOptions& opt) {
  check_backward(rows, C, y, beta, dresidual, opt);
  HWY_DYNAMIC_DISPATCH(BackwardBf16)(x, y, dy, mean, invstd, gamma, beta, dx, dresidual, dgamma,
                                     dbeta, rows, C, batch_stats, opt);
}

}  // namespace hsanet::ops
#endif  // HWY_ONCE
