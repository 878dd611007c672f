// Pooling on the shapes ResNet-50 and the attention blocks use, at batch 4, in GB/s: the stem's
// 3x3/2 pad 1 max pool (112x112x64 -> 56x56x64) and the attention block's 2x2/2 ceil-mode average
// pool (28x28x512 -> 14x14x512, and the odd 7x7x2048 -> 4x4x2048), forward and backward.
//
//   OMP_NUM_THREADS=2 build/bin/bench_pool
//
// Bytes counted: forward reads x and writes y (+ the int32 argmax for max pooling); backward
// reads dy (+ argmax) and writes dx. Overlapping 3x3/2 windows read most inputs more than once
// from cache, which these figures do not count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/random.h"
#include "bench_common.h"
#include "ops/pool.h"

namespace {

using hsanet::ops::Pool2dShape;

Pool2dShape shape(int64_t HW, int64_t C, int64_t K, int64_t stride, int64_t pad, bool ceil_mode) {
  Pool2dShape s;
  s.N = 4, s.H = s.W = HW, s.C = C, s.KH = s.KW = K;
  s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad, s.ceil_mode = ceil_mode;
  return s;
}

void BM_Pool(benchmark::State& state, Pool2dShape s, bool use_max, bool backward) {
  const int64_t in = s.N * s.H * s.W * s.C, out = s.N * s.OH() * s.OW() * s.C;
  hsanet::Rng rng(1);
  std::vector<float> x(in), y(out), dy(out), dx(in);
  for (auto& v : x) v = rng.normal();
  for (auto& v : dy) v = rng.normal();
  std::vector<int32_t> arg(out);
  hsanet::ops::max_pool2d_forward(s, x.data(), y.data(), arg.data());
  for (auto _ : state) {
    if (use_max && !backward) hsanet::ops::max_pool2d_forward(s, x.data(), y.data(), arg.data());
    if (use_max && backward) hsanet::ops::max_pool2d_backward(s, dy.data(), arg.data(), dx.data());
    if (!use_max && !backward) hsanet::ops::avg_pool2d_forward(s, x.data(), y.data());
    if (!use_max && backward) hsanet::ops::avg_pool2d_backward(s, dy.data(), dx.data());
    benchmark::ClobberMemory();
  }
  const double bytes = 4.0 * static_cast<double>(in + out + (use_max ? out : 0));
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  struct Case {
    const char* name;
    Pool2dShape s;
    bool use_max;
  };
  const Case cases[] = {
      {"max_3x3s2p1/112x112x64", shape(112, 64, 3, 2, 1, false), true},
      {"avg_2x2s2_ceil/28x28x512", shape(28, 512, 2, 2, 0, true), false},
      {"avg_2x2s2_ceil/7x7x2048", shape(7, 2048, 2, 2, 0, true), false},
  };
  for (const Case& c : cases)
    for (bool backward : {false, true})
      hsanet::bench::register_repeated(std::string("pool/") + c.name + (backward ? "/bwd" : "/fwd"),
                                       benchmark::kMicrosecond, 0.2, BM_Pool, c.s, c.use_max,
                                       backward);
  return hsanet::bench::run_benchmarks(argc, argv);
}
