// The attention kernel lab (see attention_kernels/attention_kernels.h for the versions).
// Shapes: batch 4, C 512 = 4 heads x 128, maps 14x14 and 7x7 (BoTNet/HSANet conv5), global
// attention; forward, and forward + backward (every gradient: q, k, v, rel_height, rel_width).
// Every version is validated against the double reference before it is timed.
//
//   build/bin/bench_attention [--threads=2] [--benchmark_filter=v4_gemm_packed/14x14/fwdbwd]
//
// On a machine shared with other jobs, run it with OMP_WAIT_POLICY=passive: spinning OpenMP
// threads keep their core while their partner waits for one, and a 2-thread call then takes
// several times its undisturbed time. (The variable is read when the OpenMP runtime loads, so it
// must come from the environment.)
//
// Reported per benchmark: wall time in ms (median and min of 5 repetitions), the CPU time of
// all threads together, GFLOP/s (from wall time) counting the forward
// as QK^T + relative logits + PV (2 FLOPs per multiply-add, softmax excluded) and
// forward + backward as 3x that (the convention of the PyTorch peer's bench_attention.py),
// and x_ref, the speed-up over version 1 (the scalar reference) when it ran in the same
// process.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_kernels/attention_kernels.h"
#include "base/random.h"
#include "ops/attention.h"
#include "ops/attention_ref.h"
#include "ops/parallel.h"

namespace {

using hsanet::ops::AttentionDims;

using ForwardFn = std::function<void(const AttentionDims&, const float*, const float*, const float*,
                                     const float*, const float*, float*, float*)>;
using BackwardFn = std::function<void(const AttentionDims&, const float*, const float*,
                                      const float*, const float*, const float*, const float*,
                                      const float*, float*, float*, float*, float*, float*)>;

struct Version {
  const char* name;
  ForwardFn forward;
  BackwardFn backward;
};

const Version kVersions[] = {
    {"v1_scalar_ref", hsanet::ops::ref::attention_forward<float>,
     hsanet::ops::ref::attention_backward<float>},
    {"v2_highway_rows", hsanet::attention_lab::attention_forward_v2,
     hsanet::attention_lab::attention_backward_v2},
    {"v3_highway_gemm", hsanet::attention_lab::attention_forward_v3,
     hsanet::attention_lab::attention_backward_v3},
    {"v4_gemm_packed", hsanet::ops::attention_forward, hsanet::ops::attention_backward},
};

AttentionDims bench_dims(int size, int batch) {
  AttentionDims g;
  g.batch = batch, g.height = size, g.width = size, g.heads = 4, g.head_dim = 128;
  g.ld = 3 * g.channels();  // q, k, v in place in the qkv convolution's output
  return g;
}

// Forward FLOPs of the core: QK^T, the relative logits (once per query and table row), PV.
double forward_flops(const AttentionDims& g) {
  const double N = g.positions(), d = g.head_dim;
  const double rel = 2.0 * N * (2 * g.width - 1) * d + 2.0 * N * (2 * g.height - 1) * d;
  return g.batch * g.heads * (4.0 * N * N * d + rel);
}

struct Data {
  std::vector<float> qkv, rh, rw, out, probs, dout, dqkv, drh, drw;
  explicit Data(const AttentionDims& g, uint64_t seed) {
    hsanet::Rng rng(seed);
    const int64_t rows = int64_t(g.batch) * g.positions();
    auto fill = [&](std::vector<float>& v, int64_t n, float sd) {
      v.resize(n);
      for (auto& x : v) x = rng.normal(0.f, sd);
    };
    fill(qkv, rows * 3 * g.channels(), 1.f);
    fill(rh, int64_t(g.rel_rows_h()) * g.head_dim, 1.f / std::sqrt(float(g.head_dim)));
    fill(rw, int64_t(g.rel_rows_w()) * g.head_dim, 1.f / std::sqrt(float(g.head_dim)));
    fill(dout, rows * g.channels(), 1.f);
    out.resize(rows * g.channels());
    probs.resize(g.probs_size());
    dqkv.resize(qkv.size());
    drh.resize(rh.size());
    drw.resize(rw.size());
  }
  void forward(const Version& v, const AttentionDims& g) {
    const int C = g.channels();
    v.forward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(), out.data(),
              probs.data());
  }
  void backward(const Version& v, const AttentionDims& g) {
    const int C = g.channels();
    v.backward(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(),
               probs.data(), dout.data(), dqkv.data(), dqkv.data() + C, dqkv.data() + 2 * C,
               drh.data(), drw.data());
  }
};

// Largest |got - ref| / (1e-3 + |ref|) over the results of one version on one image.
double validate(const Version& v, int size) {
  const AttentionDims g = bench_dims(size, 1);
  Data f(g, 7);
  f.forward(v, g);
  f.backward(v, g);
  auto to_d = [](const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); };
  const std::vector<double> qkv = to_d(f.qkv), rh = to_d(f.rh), rw = to_d(f.rw),
                            dout = to_d(f.dout);
  const int C = g.channels();
  std::vector<double> out(f.out.size()), probs(f.probs.size()), dqkv(qkv.size()), drh(rh.size()),
      drw(rw.size());
  hsanet::ops::ref::attention_forward<double>(g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C,
                                              rh.data(), rw.data(), out.data(), probs.data());
  hsanet::ops::ref::attention_backward<double>(
      g, qkv.data(), qkv.data() + C, qkv.data() + 2 * C, rh.data(), rw.data(), probs.data(),
      dout.data(), dqkv.data(), dqkv.data() + C, dqkv.data() + 2 * C, drh.data(), drw.data());
  double worst = 0;
  auto cmp = [&](const std::vector<float>& got, const std::vector<double>& ref) {
    for (size_t i = 0; i < ref.size(); ++i)
      worst = std::max(worst, std::fabs(got[i] - ref[i]) / (1e-3 + std::fabs(ref[i])));
  };
  cmp(f.out, out);
  cmp(f.dqkv, dqkv);
  cmp(f.drh, drh);
  cmp(f.drw, drw);
  return worst;
}

// Seconds per iteration of version 1, by "size/direction", for the x_ref counter.
std::map<std::string, double>& reference_seconds() {
  static std::map<std::string, double> m;
  return m;
}

void run(benchmark::State& state, const Version& v, int size, bool backward) {
  const AttentionDims g = bench_dims(size, 4);
  Data data(g, 1);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    data.forward(v, g);
    if (backward) data.backward(v, g);
    const auto t1 = std::chrono::steady_clock::now();
    const double sec = std::chrono::duration<double>(t1 - t0).count();
    state.SetIterationTime(sec);
    total += sec;
    benchmark::DoNotOptimize(data.out.data());
    benchmark::DoNotOptimize(data.dqkv.data());
  }
  const double per_iter = total / state.iterations();
  const double flops = forward_flops(g) * (backward ? 3 : 1);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / per_iter / 1e9);
  const std::string key = std::to_string(size) + (backward ? "/fwdbwd" : "/fwd");
  if (&v == &kVersions[0]) reference_seconds()[key] = per_iter;
  const auto it = reference_seconds().find(key);
  if (it != reference_seconds().end()) state.counters["x_ref"] = it->second / per_iter;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      args.push_back(argv[i]);
  }
  hsanet::ops::set_num_threads(threads);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  // Diagnostics go to stderr: stdout carries only the benchmark report (--benchmark_format=json).
  std::fprintf(stderr, "attention core, batch 4, C 512 = 4 heads x 128, %d threads\n", threads);
  for (const Version& v : kVersions) {
    // Version 1 validates itself trivially; the others must match it before they are timed.
    if (&v == &kVersions[0]) continue;
    for (int size : {14, 7}) {
      const double err = validate(v, size);
      std::fprintf(stderr, "validate %-16s %2dx%-2d: worst relative error %.2e\n", v.name, size, size, err);
      if (!(err < 1e-2)) {
        std::fprintf(stderr, "%s disagrees with the reference at %dx%d\n", v.name, size, size);
        return 1;
      }
    }
  }
  for (const Version& v : kVersions) {
    const bool ref = &v == &kVersions[0];
    for (int size : {14, 7})
      for (bool bwd : {false, true}) {
        const std::string name = std::string(v.name) + "/" + std::to_string(size) + "x" +
                                 std::to_string(size) + (bwd ? "/fwdbwd" : "/fwd");
        auto* b = benchmark::RegisterBenchmark(
            name.c_str(), [&v, size, bwd](benchmark::State& s) { run(s, v, size, bwd); });
        // Time: wall clock of the call. CPU: all threads' CPU time, which a shared machine
        // inflates far less than wall time (the work of an undisturbed run is ~CPU / threads).
        b->UseManualTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
        // On a shared machine the fastest repetition is the least disturbed one. (Its row's
        // counters are each counter's own minimum: read GFLOP/s off the median row.)
        b->ComputeStatistics("min", [](const std::vector<double>& v) {
          return *std::min_element(v.begin(), v.end());
        });
        // The reference takes seconds: a few single runs are enough to rank it.
        if (ref)
          b->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
        else
          b->MinTime(0.3)->Repetitions(5)->ReportAggregatesOnly(true);
      }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
