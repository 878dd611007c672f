// Scalar reference batch norm, templated on the number type (double for gradient checks).
// Textbook two-pass statistics and the textbook backward; docs/batchnorm.md derives it.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/batchnorm.h"

namespace hsanet::ops::ref {

// Training forward. Fills mean and invstd = 1/sqrt(var + eps) (biased var) and updates the
// running statistics when given (running_var with the unbiased variance).
//   x, residual, y: [rows, C]  gamma, beta, mean, invstd, running_*: [C]
template <typename T>
void batchnorm_forward_train(const T* x, const T* gamma, const T* beta, const T* residual, T* y,
                             T* mean, T* invstd, T* running_mean, T* running_var, int64_t rows,
                             int64_t C, const BatchNormOptions& opt) {
  for (int64_t c = 0; c < C; ++c) {
    T m = 0, v = 0;
    for (int64_t r = 0; r < rows; ++r) m += x[r * C + c];
    m /= T(rows);
    for (int64_t r = 0; r < rows; ++r) v += (x[r * C + c] - m) * (x[r * C + c] - m);
    const T var = v / T(rows);
    mean[c] = m;
    invstd[c] = T(1) / std::sqrt(var + T(opt.eps));
    if (running_mean) running_mean[c] = (T(1) - T(opt.momentum)) * running_mean[c] + T(opt.momentum) * m;
    if (running_var)
      running_var[c] = (T(1) - T(opt.momentum)) * running_var[c] + T(opt.momentum) * v / T(rows - 1);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = r * C + c;
      T out = gamma[c] * (x[i] - mean[c]) * invstd[c] + beta[c];
      if (residual) out += residual[i];
      y[i] = (opt.relu && out < T(0)) ? T(0) : out;
    }
}

// Evaluation forward: the running statistics normalise.
template <typename T>
void batchnorm_forward_eval(const T* x, const T* gamma, const T* beta, const T* residual,
                            const T* running_mean, const T* running_var, T* y, int64_t rows,
                            int64_t C, const BatchNormOptions& opt) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t i = r * C + c;
      T out = gamma[c] * (x[i] - running_mean[c]) / std::sqrt(running_var[c] + T(opt.eps)) + beta[c];
      if (residual) out += residual[i];
      y[i] = (opt.relu && out < T(0)) ? T(0) : out;
    }
}

// Backward, same contract as ops::batchnorm_backward (nullptr outputs are skipped).
// With xhat = (x - mean) * invstd and g the gradient at gamma * xhat + beta [+ residual]:
//   dbeta = sum g,  dgamma = sum g * xhat,
//   dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat))   (batch statistics)
//   dx = gamma * invstd * g                                       (fixed statistics)
template <typename T>
void batchnorm_backward(const T* x, const T* y, const T* dy, const T* mean, const T* invstd,
                        const T* gamma, T* dx, T* dresidual, T* dgamma, T* dbeta, int64_t rows,
                        int64_t C, bool batch_stats, const BatchNormOptions& opt) {
  std::vector<T> g(static_cast<size_t>(rows * C));
  for (int64_t i = 0; i < rows * C; ++i) g[i] = (opt.relu && !(y[i] > T(0))) ? T(0) : dy[i];
  if (dresidual)
    for (int64_t i = 0; i < rows * C; ++i) dresidual[i] = g[i];
  for (int64_t c = 0; c < C; ++c) {
    T sg = 0, sgx = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T xhat = (x[r * C + c] - mean[c]) * invstd[c];
      sg += g[r * C + c];
      sgx += g[r * C + c] * xhat;
    }
    if (dbeta) dbeta[c] = sg;
    if (dgamma) dgamma[c] = sgx;
    if (!dx) continue;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r * C + c;
      const T xhat = (x[i] - mean[c]) * invstd[c];
      dx[i] = batch_stats ? gamma[c] * invstd[c] * (g[i] - sg / T(rows) - xhat * sgx / T(rows))
                          : gamma[c] * invstd[c] * g[i];
    }
  }
}

}  // namespace hsanet::ops::ref
