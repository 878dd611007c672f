#include "ops/reduce.h"

#include <vector>

#include "ops/elementwise.h"
#include "ops/parallel.h"

namespace hsanet::ops {

double sum(const float* x, int64_t n) {
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) total += x[i];
  return total;
}

void global_avg_pool_forward(const float* x, float* y, int64_t N, int64_t HW, int64_t C) {
  // x: [N, HW, C], y: [N, C]. Per image: the column sums of an [HW, C] matrix, then a scale.
  for (int64_t n = 0; n < N; ++n) {
    sum_rows(x + n * HW * C, y + n * C, HW, C);
    scale(y + n * C, 1.f / static_cast<float>(HW), y + n * C, C);
  }
}

void global_avg_pool_backward(const float* dy, float* dx, int64_t N, int64_t HW, int64_t C) {
  // dx: [N, HW, C] = broadcast of dy[n, :] / HW over the HW rows.
  std::vector<float> row(static_cast<size_t>(C));
  for (int64_t n = 0; n < N; ++n) {
    scale(dy + n * C, 1.f / static_cast<float>(HW), row.data(), C);
    float* d = dx + n * HW * C;
#pragma omp parallel for schedule(static) if (HW * C >= kParallelGrain)
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t c = 0; c < C; ++c) d[p * C + c] = row[c];
  }
}

}  // namespace hsanet::ops
