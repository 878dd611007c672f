#include "nn/clip_grad.h"

#include <algorithm>
#include <cmath>

namespace hsanet::nn {

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  double sum_sq = 0;  // accumulated in double: 25 M squares lose nothing that matters
  for (const auto& [name, p] : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const float* d = g.data();  // the gradient's own storage: [numel]
    for (int64_t i = 0, n = g.numel(); i < n; ++i) sum_sq += static_cast<double>(d[i]) * d[i];
  }
  const double total = std::sqrt(sum_sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    const float c = static_cast<float>(coef);
    for (const auto& [name, p] : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      float* d = g.data();
      for (int64_t i = 0, n = g.numel(); i < n; ++i) d[i] *= c;
    }
  }
  return total;
}

void clip_grad_value(const NamedTensors& params, double clip) {
  const float c = static_cast<float>(clip);
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    float* d = g.data();
    for (int64_t i = 0, n = g.numel(); i < n; ++i) d[i] = std::clamp(d[i], -c, c);
  }
}

}  // namespace hsanet::nn
