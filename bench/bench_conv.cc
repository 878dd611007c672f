// Convolutions on ResNet-50's shapes at batch 4: the engine's path (ops::conv2d_*: cached
// primitives, cached weight reorders, the weight gradient reordered back to OIHW) against raw
// oneDNN primitive execution on the same shape and layouts (NHWC activations, weights already in
// the primitive's layout, the weight gradient left in it). The gap is the engine's overhead.
//
//   OMP_NUM_THREADS=2 build/bin/bench_conv [--benchmark_filter=3x3]
//
// Counters: GFLOP/s (2 * multiply-adds / wall time) and pct_peak, the share of 440 GFLOP/s, the
// fp32 FMA peak of this machine class on 2 threads (two 512-bit FMAs a cycle on each core).
// Winograd does fewer multiplies than 2 * multiply-adds counts, so its GFLOP/s are "effective".
// Timings are wall clock (UseRealTime), since oneDNN runs on the OpenMP threads. The console
// shows the aggregates of 5 repetitions; --benchmark_out=FILE also gets every repetition, whose
// minimum is the figure least disturbed by other processes on a shared machine.
//
// "fwd+reorder" bumps the weight version every iteration: the forward plus the once-per-step
// OIHW -> blocked weight reorder that a training step pays (for Winograd on NHWC, the weight
// transform). Shapes that run as Winograd or im2col under the default (fast) setting are
// measured a second time as conv/engine_direct/..., the direct algorithm, in the same run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <dnnl.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/random.h"
#include "bench_common.h"
#include "ops/conv2d.h"
#include "ops/onednn_engine.h"

namespace {

using hsanet::ops::Conv2dShape;
constexpr double kPeakGflops = 440.0;

struct NamedShape {
  const char* name;
  Conv2dShape s;
};

Conv2dShape shape(int64_t C, int64_t O, int64_t HW, int64_t K, int64_t stride, int64_t pad) {
  Conv2dShape s;
  s.N = 4, s.H = s.W = HW, s.C = C, s.O = O, s.KH = s.KW = K;
  s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad;
  return s;
}

const std::vector<NamedShape>& shapes() {
  static const std::vector<NamedShape> v = {
      {"conv2_3x3_64-64_56", shape(64, 64, 56, 3, 1, 1)},
      {"conv3_3x3_128-128_28", shape(128, 128, 28, 3, 1, 1)},
      {"conv3_3x3s2_128-128_56", shape(128, 128, 56, 3, 2, 1)},  // layer2's first 3x3 (v1.5)
      {"conv4_3x3_256-256_14", shape(256, 256, 14, 3, 1, 1)},
      {"conv5_3x3s2_512-512_14", shape(512, 512, 14, 3, 2, 1)},  // layer4's first 3x3
      {"conv5_3x3_512-512_7", shape(512, 512, 7, 3, 1, 1)},
      {"conv2_1x1_64-256_56", shape(64, 256, 56, 1, 1, 0)},
      {"conv4_1x1_1024-256_14", shape(1024, 256, 14, 1, 1, 0)},
      {"conv3_1x1s2_512-1024_28", shape(512, 1024, 28, 1, 2, 0)},  // layer3's downsample
      {"mhsa_qkv_1x1_512-1536_14", shape(512, 1536, 14, 1, 1, 0)},  // BoTNet's q/k/v
      {"stem_7x7s2_3-64_224", shape(3, 64, 224, 7, 2, 3)},
  };
  return v;
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  hsanet::Rng r(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.normal(0.f, 0.5f);
  return v;
}

enum Dir { kFwd, kFwdReorder, kBwdData, kBwdWeights };
const char* dir_name(Dir d) {
  switch (d) {
    case kFwd: return "fwd";
    case kFwdReorder: return "fwd+reorder";
    case kBwdData: return "bwd_data";
    case kBwdWeights: return "bwd_weights";
  }
  return "?";
}

void set_counters(benchmark::State& state, const Conv2dShape& s) {
  const double gflop = s.flops() / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["pct_peak"] =
      benchmark::Counter(100.0 * gflop / kPeakGflops, benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------- the engine's path

void BM_Engine(benchmark::State& state, Conv2dShape s, Dir dir,
               hsanet::ops::Conv2dAlgorithm algorithm) {
  const auto x = random_floats(s.N * s.H * s.W * s.C, 1);
  const auto w = random_floats(s.O * s.C * s.KH * s.KW, 2);
  const auto dy = random_floats(s.N * s.OH() * s.OW() * s.O, 3);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size());
  auto owner = std::make_shared<int>(0);
  uint64_t version = 0;
  for (auto _ : state) {
    switch (dir) {
      case kFwdReorder: ++version; [[fallthrough]];
      case kFwd:
        hsanet::ops::conv2d_forward(s, x.data(), w.data(), nullptr, y.data(), true, {owner, version},
                                    algorithm);
        break;
      case kBwdData:
        hsanet::ops::conv2d_backward_data(s, dy.data(), w.data(), dx.data(), {owner, version}, false,
                                          algorithm);
        break;
      case kBwdWeights:
        hsanet::ops::conv2d_backward_weights(s, x.data(), dy.data(), dw.data(), nullptr, {},
                                             algorithm);
        break;
    }
    benchmark::ClobberMemory();
  }
  set_counters(state, s);
}

// ---------------------------------------------------------------- raw oneDNN

void BM_Raw(benchmark::State& state, Conv2dShape s, Dir dir) {
  using dnnl::memory;
  using tag = memory::format_tag;
  const auto& eng = hsanet::ops::onednn_engine();
  auto& strm = hsanet::ops::onednn_stream();
  const memory::desc x_md({s.N, s.C, s.H, s.W}, memory::data_type::f32, tag::nhwc);
  const memory::desc y_md({s.N, s.O, s.OH(), s.OW()}, memory::data_type::f32, tag::nhwc);
  const memory::desc w_any({s.O, s.C, s.KH, s.KW}, memory::data_type::f32, tag::any);
  const memory::dims strides{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w};
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::primitive_desc fwd_pd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, x_md, w_any, y_md,
                                      strides, pad, pad),
      eng);
  auto x = random_floats(s.N * s.H * s.W * s.C, 1);
  auto dy = random_floats(s.N * s.OH() * s.OW() * s.O, 3);
  std::vector<float> y(dy.size()), dx(x.size());
  memory xm(x_md, eng, x.data()), ym(y_md, eng, y.data()), dym(y_md, eng, dy.data()),
      dxm(x_md, eng, dx.data());
  auto fill = [](memory& m, uint64_t seed) {
    const auto v = random_floats(static_cast<int64_t>(m.get_desc().get_size() / sizeof(float)), seed);
    std::copy(v.begin(), v.end(), static_cast<float*>(m.get_data_handle()));
  };
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  if (dir == kFwd || dir == kFwdReorder) {
    memory wm(fwd_pd.weights_desc(), eng);
    fill(wm, 2);
    prim = dnnl::convolution_forward(fwd_pd);
    args = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  } else if (dir == kBwdData) {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(algo, x_md, w_any, y_md, strides, pad, pad), eng,
        fwd_pd);
    memory wm(pd.weights_desc(), eng);
    fill(wm, 2);
    prim = dnnl::convolution_backward_data(pd);
    args = {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}};
  } else {
    dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(algo, x_md, w_any, y_md, strides, pad, pad), eng,
        fwd_pd);
    memory dwm(pd.diff_weights_desc(), eng);
    prim = dnnl::convolution_backward_weights(pd);
    args = {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
  }
  for (auto _ : state) {
    prim.execute(strm, args);
    strm.wait();
    benchmark::ClobberMemory();
  }
  set_counters(state, s);
}

}  // namespace

int main(int argc, char** argv) {
  using hsanet::ops::Conv2dAlgorithm;
  for (const NamedShape& ns : shapes())
    for (Dir dir : {kFwd, kFwdReorder, kBwdData, kBwdWeights}) {
      const std::string base = std::string(ns.name) + "/" + dir_name(dir);
      using hsanet::bench::register_repeated;
      register_repeated("conv/engine/" + base, benchmark::kMillisecond, 0.3, BM_Engine, ns.s, dir,
                        Conv2dAlgorithm::kFast);
      if (hsanet::ops::conv2d_uses_winograd(ns.s) || hsanet::ops::conv2d_uses_winograd2x2(ns.s) ||
          hsanet::ops::conv2d_uses_im2col(ns.s))  // the fast setting's own paths
        register_repeated("conv/engine_direct/" + base, benchmark::kMillisecond, 0.3, BM_Engine,
                          ns.s, dir, Conv2dAlgorithm::kDirect);
      if (dir == kFwdReorder) continue;  // raw oneDNN has no weight versions
      register_repeated("conv/raw/" + base, benchmark::kMillisecond, 0.3, BM_Raw, ns.s, dir);
    }
  return hsanet::bench::run_benchmarks(argc, argv);
}
