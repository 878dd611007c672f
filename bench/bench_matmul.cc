// Matmul: the oneDNN fast path against the scalar reference, GFLOP/s, in one run.
// build/bin/bench_matmul [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <vector>

#include "base/random.h"
#include "ops/matmul.h"
#include "ops/matmul_ref.h"

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  hsanet::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.normal();
  return v;
}

// Args: batch, M, N, K. Shapes: the fc layer (4x2048 -> 26), a square GEMM, and the attention
// core's per-head products at 14x14 (N = 196 positions, d = 128) over batch x heads = 16.
template <bool kReference>
void BM_Matmul(benchmark::State& state) {
  const int64_t B = state.range(0), M = state.range(1), N = state.range(2), K = state.range(3);
  auto a = random_floats(B * M * K, 1), b = random_floats(B * K * N, 2);
  std::vector<float> c(B * M * N);
  for (auto _ : state) {
    if (kReference)
      hsanet::ops::ref::matmul(a.data(), b.data(), c.data(), B, M, N, K);
    else
      hsanet::ops::matmul(a.data(), b.data(), c.data(), B, M, N, K);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * B * M * N * K * state.iterations() / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({1, 4, 26, 2048})->Args({1, 512, 512, 512})->Args({16, 196, 196, 128})
      ->Args({16, 196, 128, 196})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Matmul<false>)->Name("matmul/onednn")->Apply(Shapes)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_Matmul<true>)->Name("matmul/reference")->Apply(Shapes)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
