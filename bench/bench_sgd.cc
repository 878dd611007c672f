// The SGD update (momentum 0.9, weight decay 1e-4, as bench_train_step) in GB/s, on one
// parameter's worth of floats and on ResNet-50's 23.5 M at once: ops::sgd_update against the
// plain OpenMP loop the optimiser ran before it (kept here as the baseline), in one run.
//
//   OMP_NUM_THREADS=2 build/bin/bench_sgd
//
// Bytes counted: w, g and the momentum buffer read, w and the buffer written (5 streams).
// Repeated over the same arrays these runs keep what fits in the caches; inside a training
// step the arrays come cold, and the kernel's streaming stores for the buffer pay off there
// (docs/performance.md), not here.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/random.h"
#include "bench_common.h"
#include "ops/parallel.h"
#include "ops/sgd.h"

namespace {

using hsanet::ops::SgdStep;

// The loop nn::SGD ran before ops::sgd_update: per-element branches on the options.
void baseline_loop(float* w, const float* gr, float* buf, int64_t n, const SgdStep& s) {
#pragma omp parallel for simd schedule(static) if (n >= hsanet::ops::kParallelGrain)
  for (int64_t j = 0; j < n; ++j) {
    float d = gr[j] + s.weight_decay * w[j];
    if (buf) {
      buf[j] = s.first ? d : s.momentum * buf[j] + (1.f - s.dampening) * d;
      d = s.nesterov ? d + s.momentum * buf[j] : buf[j];
    }
    w[j] -= s.lr * d;
  }
}

void BM_Sgd(benchmark::State& state, int64_t n, bool kernel) {
  hsanet::Rng rng(1);
  std::vector<float> w(n), g(n), buf(n);  // w, g, buf: [n]
  for (int64_t j = 0; j < n; ++j) w[j] = rng.normal(), g[j] = rng.normal(), buf[j] = rng.normal();
  SgdStep s;
  s.lr = 1e-6f, s.momentum = 0.9f, s.weight_decay = 1e-4f;  // a tiny lr: w stays finite
  for (auto _ : state) {
    if (kernel)
      hsanet::ops::sgd_update(w.data(), g.data(), buf.data(), n, s);
    else
      baseline_loop(w.data(), g.data(), buf.data(), n, s);
    benchmark::ClobberMemory();
  }
  const double bytes = 5.0 * 4.0 * static_cast<double>(n);
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  struct Case {
    const char* name;
    int64_t n;
  };
  // One 1x1 weight of stage 3 (1024 x 256), one 3x3 weight of stage 4 (512 x 512 x 9), and
  // ResNet-50's 23.5 M parameters as one array.
  const Case cases[] = {{"262144", 1024 * 256}, {"2359296", 512 * 512 * 9}, {"23561306", 23561306}};
  for (const Case& c : cases)
    for (bool kernel : {true, false})
      hsanet::bench::register_repeated(std::string("sgd/") + (kernel ? "kernel/" : "loop/") + c.name,
                                       benchmark::kMicrosecond, 0.2, BM_Sgd, c.n, kernel);
  return hsanet::bench::run_benchmarks(argc, argv);
}
