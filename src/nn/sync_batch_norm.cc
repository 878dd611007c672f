#include "nn/sync_batch_norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/functions_vision.h"
#include "autograd/node.h"

namespace hsanet::nn {

namespace {

// Per-channel sums of a and of a * b over rows (b == nullptr: of a * a), in double, combined
// from per-thread partials over fixed row blocks in thread order (deterministic per thread count).
//   a, b: [rows, C]   s1, s2: [C]
void channel_sums(const float* a, const float* b, int64_t rows, int64_t C, double* s1, double* s2) {
  const int threads = omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(threads) * 2 * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* p1 = part.data() + static_cast<size_t>(t) * 2 * C;
    double* p2 = p1 + C;
    for (int64_t r = r0; r < r1; ++r) {
      const float* ar = a + r * C;
      const float* br = b ? b + r * C : ar;
      for (int64_t c = 0; c < C; ++c) {
        p1[c] += ar[c];
        p2[c] += static_cast<double>(ar[c]) * br[c];
      }
    }
  }
  std::fill(s1, s1 + C, 0.0);
  std::fill(s2, s2 + C, 0.0);
  for (int t = 0; t < threads; ++t)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += part[static_cast<size_t>(t) * 2 * C + c];
      s2[c] += part[static_cast<size_t>(t) * 2 * C + C + c];
    }
}

}  // namespace

Tensor sync_batch_norm(const char* op, const Tensor& x_in, const Tensor& residual, const Tensor& weight,
                       const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                       const ops::BatchNormOptions& opt, const StatsAllReduce& all_reduce) {
  check_batch_norm_args(op, x_in, residual, weight, bias, running_mean, running_var, true);
  const Tensor x = float32(x_in);  // a bf16 convolution's output: widened (exactly)
  const int64_t C = x.size(-1), rows = x.numel() / C;
  // Undefined affine parameters act as gamma = 1, beta = 0.
  const Tensor gamma = weight.defined() ? weight : Tensor::ones({C});
  const Tensor beta = bias.defined() ? bias : Tensor::zeros({C});
  // stats: [sum x (C), sum x^2 (C), rows (1)], summed over the processes
  std::vector<double> stats(2 * C + 1);
  channel_sums(x.data(), nullptr, rows, C, stats.data(), stats.data() + C);
  stats[2 * C] = static_cast<double>(rows);
  all_reduce(stats.data(), 2 * C + 1);
  const double M = stats[2 * C];

  Tensor mean = Tensor::empty({C}), var = Tensor::empty({C}), invstd = Tensor::empty({C});
  for (int64_t c = 0; c < C; ++c) {
    const double m = stats[c] / M;
    const double v = std::max(stats[C + c] / M - m * m, 0.0);  // biased, as the kernel's
    mean.data()[c] = static_cast<float>(m);
    var.data()[c] = static_cast<float>(v);
    invstd.data()[c] = static_cast<float>(1.0 / std::sqrt(v + opt.eps));
  }
  Tensor y = Tensor::empty(x.shape());
  // The evaluation kernel normalises with given statistics: here the global batch's.
  ops::batchnorm_forward_eval(x.data(), gamma.data(), beta.data(), residual.defined() ? residual.data() : nullptr,
                              mean.data(), var.data(), y.data(), rows, C, opt);
  if (running_mean.defined() && running_var.defined()) {
    Tensor rm = running_mean, rv = running_var;  // updated in place (shared storage)
    const double unbias = M > 1 ? M / (M - 1) : 1.0;
    for (int64_t c = 0; c < C; ++c) {
      rm.data()[c] = (1.f - opt.momentum) * rm.data()[c] + opt.momentum * mean.data()[c];
      rv.data()[c] = (1.f - opt.momentum) * rv.data()[c] + opt.momentum * static_cast<float>(var.data()[c] * unbias);
    }
    rm.bump_version();
    rv.bump_version();
  }
  if (!needs_record({&x, &residual, &weight, &bias})) return y;

  const Tensor xs = x.detach(), gs = gamma.detach();
  const Tensor ys = opt.relu ? y.detach() : Tensor();
  const bool fused_add = residual.defined();
  return record(op, y, {x, weight, bias, residual},
                [xs, gs, ys, mean, invstd, rows, C, M, opt, fused_add, all_reduce](const Tensor& gy,
                                                                                  const NeedsGrad& needs) {
                  std::vector<Tensor> g(4);
                  if (needs[0]) g[0] = Tensor::empty(xs.shape());
                  if (needs[3] && fused_add) g[3] = Tensor::empty(xs.shape());
                  // Always computed: every process must join the sum below.
                  Tensor dgamma = Tensor::empty({C}), dbeta = Tensor::empty({C});
                  // Statistics held constant: dx = gamma * invstd * dy (after the ReLU's mask).
                  ops::batchnorm_backward(xs.data(), ys.defined() ? ys.data() : nullptr, gy.data(), mean.data(),
                                          invstd.data(), gs.data(), /*beta=*/nullptr, g[0].defined() ? g[0].data() : nullptr,
                                          g[3].defined() ? g[3].data() : nullptr, dgamma.data(), dbeta.data(), rows,
                                          C, /*batch_stats=*/false, opt);
                  // sums: [sum dy (C), sum dy * xhat (C)], over the processes
                  std::vector<double> sums(2 * C);
                  for (int64_t c = 0; c < C; ++c) sums[c] = dbeta.data()[c], sums[C + c] = dgamma.data()[c];
                  all_reduce(sums.data(), 2 * C);
                  if (g[0].defined()) {
                    // dx -= gamma * invstd * (sum(dy) / M + xhat * sum(dy * xhat) / M)
                    std::vector<float> a(C), b(C);
                    for (int64_t c = 0; c < C; ++c) {
                      const double k = static_cast<double>(gs.data()[c]) * invstd.data()[c] / M;
                      a[c] = static_cast<float>(k * sums[c]);
                      b[c] = static_cast<float>(k * sums[C + c] * invstd.data()[c]);
                    }
                    const float* xp = xs.data();
                    const float* mp = mean.data();
                    float* dx = g[0].data();
#pragma omp parallel for schedule(static)
                    for (int64_t r = 0; r < rows; ++r)
                      for (int64_t c = 0; c < C; ++c)
                        dx[r * C + c] -= a[c] + b[c] * (xp[r * C + c] - mp[c]);
                  }
                  if (needs[1]) g[1] = dgamma;
                  if (needs[2]) g[2] = dbeta;
                  return g;
                });
}

}  // namespace hsanet::nn
