// The CUDA attention core at the conv5 shapes (batch 4, C 512, 4 heads of 128, 14x14 and 7x7) and
// at larger ones (batch 32, 14x14 and 28x28): forward, and forward + backward (all gradients).
//
//   BM_AttentionCuda      device-resident buffers: the kernels alone. Time is device time per
//                         call (launch to cudaDeviceSynchronize); TFLOPs is the rate.
//   BM_AttentionCudaHost  attention_forward_on / attention_backward_on from host buffers, as the
//                         engine calls it: copies in, kernels, copies out. Counters split the
//                         time into to_device_ms, kernel_ms and to_host_ms per call, with the
//                         copies' GB/s.
// FLOPs are the matrix products only (softmax excluded), as bench/bench_attention.cc counts them:
// forward 2 B h (2 N^2 d + N (2H-1 + 2W-1) d); backward does twice that.
// Without a usable device it says why and measures nothing.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>
#include <vector>

#include "base/random.h"
#include "ops/attention.h"
#include "ops/attention_device.h"
#include "ops/cuda/attention_cuda.h"
#include "ops/cuda/device_buffer.h"

namespace {

using hsanet::ops::AttentionDims;
using hsanet::ops::DeviceBuffer;

AttentionDims conv5_dims(int batch, int size) {
  AttentionDims d;
  d.batch = batch;
  d.height = size;
  d.width = size;
  d.heads = 4;
  d.head_dim = 128;  // C = 512
  d.ld = 3 * d.channels();  // q, k, v read in place from the fused qkv projection
  d.ld_out = d.channels();
  return d;
}

double forward_flops(const AttentionDims& d) {
  const double N = d.positions(), rel = d.rel_rows_h() + d.rel_rows_w();
  return 2.0 * d.batch * d.heads * (2.0 * N * N * d.head_dim + N * rel * d.head_dim);
}

std::vector<float> random_floats(size_t n, uint64_t seed, float scale) {
  hsanet::Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

// Host-side problem: fused qkv [B, N, 3C], tables, dout [B, N, C], and room for every output.
struct HostProblem {
  AttentionDims dims;
  int64_t rows, C;
  std::vector<float> qkv, rel_h, rel_w, dout, out, probs, dqkv, drel_h, drel_w;
  explicit HostProblem(const AttentionDims& d) : dims(d) {
    rows = int64_t(d.batch) * d.positions();
    C = d.channels();
    const float table = 1.f / std::sqrt(float(d.head_dim));
    qkv = random_floats(size_t(rows * 3 * C), 1, 1.f);
    rel_h = random_floats(size_t(d.rel_rows_h()) * d.head_dim, 2, table);
    rel_w = random_floats(size_t(d.rel_rows_w()) * d.head_dim, 3, table);
    dout = random_floats(size_t(rows * C), 4, 1.f);
    out.resize(size_t(rows * C));
    probs.resize(size_t(d.probs_size()));
    dqkv.resize(qkv.size());
    drel_h.resize(rel_h.size());
    drel_w.resize(rel_w.size());
  }
};

void BM_AttentionCuda(benchmark::State& state, int batch, int size, bool backward) {
  const AttentionDims dims = conv5_dims(batch, size);
  HostProblem h(dims);
  auto upload = [](const std::vector<float>& v) {
    DeviceBuffer b(v.size());
    b.upload(v.data(), v.size());
    return b;
  };
  DeviceBuffer qkv = upload(h.qkv), rel_h = upload(h.rel_h), rel_w = upload(h.rel_w);
  DeviceBuffer dout = upload(h.dout);
  DeviceBuffer out(h.out.size()), probs(h.probs.size()), dqkv(h.qkv.size());
  DeviceBuffer drel_h(h.rel_h.size()), drel_w(h.rel_w.size());
  const int64_t C = h.C;
  auto step = [&] {
    hsanet::ops::attention_forward_cuda(dims, qkv.data(), qkv.data() + C, qkv.data() + 2 * C,
                                        rel_h.data(), rel_w.data(), out.data(), probs.data());
    if (backward)
      hsanet::ops::attention_backward_cuda(dims, qkv.data(), qkv.data() + C, qkv.data() + 2 * C,
                                           rel_h.data(), rel_w.data(), probs.data(), dout.data(),
                                           dqkv.data(), dqkv.data() + C, dqkv.data() + 2 * C,
                                           drel_h.data(), drel_w.data());
    hsanet::ops::cuda_synchronize();
  };
  step();  // warm-up: module load, scratch pool growth
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double flops = forward_flops(dims) * (backward ? 3.0 : 1.0);
  state.counters["TFLOPs"] =
      benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = flops / 1e9;
}

void BM_AttentionCudaHost(benchmark::State& state, int batch, int size, bool backward) {
  const AttentionDims dims = conv5_dims(batch, size);
  HostProblem h(dims);
  const int64_t C = h.C;
  using hsanet::ops::Device;
  auto step = [&] {
    hsanet::ops::attention_forward_on(Device::cuda, dims, h.qkv.data(), h.qkv.data() + C,
                                      h.qkv.data() + 2 * C, h.rel_h.data(), h.rel_w.data(),
                                      h.out.data(), h.probs.data());
    if (backward)
      hsanet::ops::attention_backward_on(
          Device::cuda, dims, h.qkv.data(), h.qkv.data() + C, h.qkv.data() + 2 * C,
          h.rel_h.data(), h.rel_w.data(), h.probs.data(), h.dout.data(), h.dqkv.data(),
          h.dqkv.data() + C, h.dqkv.data() + 2 * C, h.drel_h.data(), h.drel_w.data());
  };
  step();  // warm-up: device buffers allocated once
  hsanet::ops::reset_attention_transfer_stats();
  for (auto _ : state) step();
  const hsanet::ops::AttentionTransferStats s = hsanet::ops::attention_transfer_stats();
  const double n = double(state.iterations());
  state.counters["to_device_ms"] = 1e3 * s.seconds_to_device / n;
  state.counters["kernel_ms"] = 1e3 * s.seconds_compute / n;
  state.counters["to_host_ms"] = 1e3 * s.seconds_to_host / n;
  state.counters["to_device_GBps"] = s.bytes_to_device / s.seconds_to_device / 1e9;
  state.counters["to_host_GBps"] = s.bytes_to_host / s.seconds_to_host / 1e9;
  state.counters["MB_per_call"] = double(s.bytes_to_device + s.bytes_to_host) / n / 1e6;
}

void register_all() {
  struct Shape {
    int batch, size;
  };
  const Shape shapes[] = {{4, 14}, {4, 7}, {32, 14}, {32, 28}};
  for (const Shape& s : shapes)
    for (bool backward : {false, true}) {
      const std::string tag = "/b" + std::to_string(s.batch) + "_" + std::to_string(s.size) + "x" +
                              std::to_string(s.size) + (backward ? "/fwd+bwd" : "/fwd");
      benchmark::RegisterBenchmark(("BM_AttentionCuda" + tag).c_str(), BM_AttentionCuda, s.batch,
                                   s.size, backward)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.2)
          ->Repetitions(5)
          ->ReportAggregatesOnly(true);
      benchmark::RegisterBenchmark(("BM_AttentionCudaHost" + tag).c_str(), BM_AttentionCudaHost,
                                   s.batch, s.size, backward)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.2)
          ->Repetitions(3)
          ->ReportAggregatesOnly(true);
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!hsanet::ops::cuda_available()) {
    std::fprintf(stderr, "bench_attention_cuda: nothing to measure: %s\n",
                hsanet::ops::cuda_unavailable_reason().c_str());
    return 0;
  }
  std::fprintf(stderr, "CUDA device: %s\n", hsanet::ops::cuda_device_name().c_str());
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
