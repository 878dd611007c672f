// Batch norm, ReLU and the residual add -- the memory-bound ops between ResNet-50's convolutions --
// on its activation shapes at batch 4, in GB/s, next to a plain memcpy of the same tensor as the
// bandwidth this machine gives one such stream.
//
//   OMP_NUM_THREADS=2 build/bin/bench_batchnorm [--benchmark_filter=bn_train]
//
// Bytes counted are those each kernel's passes move (every pass reads or writes whole tensors):
//   bn_train_fwd       stats pass reads x; normalise pass reads x, writes y          3 tensors
//   bn_train_fwd_relu  the same with the ReLU fused                                   3
//   bn_add_relu_fwd    + the residual read                                            4
//   bn_eval_fwd        reads x, writes y                                              2
//   bn_bwd             sums pass reads x, dy; dx pass reads x, dy, writes dx          5
//   bn_relu_bwd        as bn_bwd: the ReLU's mask is recomputed from x, not read from y 5
//   bn_add_relu_bwd    sums pass reads x, y, dy, writes dres (the masked dy);
//                      dx pass reads dres, x, writes dx                              7
//   relu_fwd / add     2 / 3;  relu_bwd 3;  memcpy 2
// The unfused sequence bn -> add -> relu moves 3 + 3 + 2 = 8 tensors forward where the fused one
// moves 4.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/random.h"
#include "bench_common.h"
#include "ops/batchnorm.h"
#include "ops/elementwise.h"

namespace {

using hsanet::ops::BatchNormOptions;

struct Act {
  const char* name;
  int64_t N, H, W, C;
  int64_t rows() const { return N * H * W; }
  int64_t numel() const { return rows() * C; }
};

const std::vector<Act>& activations() {
  static const std::vector<Act> v = {
      {"stem_112x112x64", 4, 112, 112, 64},
      {"layer1_56x56x64", 4, 56, 56, 64},
      {"layer1_56x56x256", 4, 56, 56, 256},
      {"layer2_28x28x512", 4, 28, 28, 512},
      {"layer3_14x14x1024", 4, 14, 14, 1024},
      {"layer4_7x7x2048", 4, 7, 7, 2048},
  };
  return v;
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  hsanet::Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.normal();
  return v;
}

enum Op {
  kBnTrainFwd, kBnTrainFwdRelu, kBnAddReluFwd, kBnEvalFwd, kBnBwd, kBnReluBwd, kBnAddReluBwd,
  kReluFwd, kReluBwd, kAdd, kMemcpy
};
struct OpInfo {
  const char* name;
  int tensors;  // whole tensors read or written per call
};
const OpInfo kOps[] = {{"bn_train_fwd", 3},   {"bn_train_fwd_relu", 3}, {"bn_add_relu_fwd", 4},
                       {"bn_eval_fwd", 2},    {"bn_bwd", 5},            {"bn_relu_bwd", 5},
                       {"bn_add_relu_bwd", 7},
                       {"relu_fwd", 2},       {"relu_bwd", 3},          {"add", 3},
                       {"memcpy", 2}};

void BM_Op(benchmark::State& state, Act a, Op op) {
  namespace ops = hsanet::ops;
  const int64_t n = a.numel(), rows = a.rows(), C = a.C;
  const auto x = random_floats(n, 1), dy = random_floats(n, 2), res = random_floats(n, 3);
  const auto gamma = random_floats(C, 4), beta = random_floats(C, 5);
  std::vector<float> y(n), dx(n), dres(n), mean(C), invstd(C), rm(C, 0.f), rv(C, 1.f), dg(C), db(C);
  BatchNormOptions plain, fused;
  fused.relu = true;
  // Saved statistics and outputs for the backward benchmarks.
  ops::batchnorm_forward_train(x.data(), gamma.data(), beta.data(),
                               op == kBnAddReluBwd ? res.data() : nullptr, y.data(), mean.data(),
                               invstd.data(), nullptr, nullptr, rows, C,
                               op == kBnAddReluBwd || op == kBnReluBwd ? fused : plain);
  for (auto _ : state) {
    switch (op) {
      case kBnTrainFwd:
      case kBnTrainFwdRelu:
        ops::batchnorm_forward_train(x.data(), gamma.data(), beta.data(), nullptr, y.data(),
                                     mean.data(), invstd.data(), rm.data(), rv.data(), rows, C,
                                     op == kBnTrainFwdRelu ? fused : plain);
        break;
      case kBnAddReluFwd:
        ops::batchnorm_forward_train(x.data(), gamma.data(), beta.data(), res.data(), y.data(),
                                     mean.data(), invstd.data(), rm.data(), rv.data(), rows, C,
                                     fused);
        break;
      case kBnEvalFwd:
        ops::batchnorm_forward_eval(x.data(), gamma.data(), beta.data(), nullptr, rm.data(),
                                    rv.data(), y.data(), rows, C, plain);
        break;
      case kBnBwd:
        ops::batchnorm_backward(x.data(), nullptr, dy.data(), mean.data(), invstd.data(),
                                gamma.data(), beta.data(), dx.data(), nullptr, dg.data(), db.data(), rows, C,
                                true, plain);
        break;
      case kBnReluBwd:  // the ReLU's mask recomputed from x, as training does
        ops::batchnorm_backward(x.data(), nullptr, dy.data(), mean.data(), invstd.data(),
                                gamma.data(), beta.data(), dx.data(), nullptr, dg.data(), db.data(),
                                rows, C, true, fused);
        break;
      case kBnAddReluBwd:
        ops::batchnorm_backward(x.data(), y.data(), dy.data(), mean.data(), invstd.data(),
                                gamma.data(), beta.data(), dx.data(), dres.data(), dg.data(), db.data(), rows,
                                C, true, fused);
        break;
      case kReluFwd: ops::relu_forward(x.data(), y.data(), n); break;
      case kReluBwd: ops::relu_backward(x.data(), dy.data(), dx.data(), n); break;
      case kAdd: ops::add(x.data(), res.data(), y.data(), n); break;
      case kMemcpy: std::memcpy(y.data(), x.data(), sizeof(float) * static_cast<size_t>(n)); break;
    }
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(kOps[op].tensors) * static_cast<double>(n) * sizeof(float);
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MB"] = static_cast<double>(n) * sizeof(float) / 1e6;  // one tensor
}

}  // namespace

int main(int argc, char** argv) {
  for (const Act& a : activations())
    for (int op = kBnTrainFwd; op <= kMemcpy; ++op)
      hsanet::bench::register_repeated(std::string(kOps[op].name) + "/" + a.name,
                                       benchmark::kMicrosecond, 0.2, BM_Op, a, static_cast<Op>(op));
  return hsanet::bench::run_benchmarks(argc, argv);
}
