#include "ops/conv2d_gemm.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "ops/bf16.h"
#include "ops/conv2d_context.h"
#include "ops/elementwise.h"
#include "ops/onednn_engine.h"
#include "ops/parallel.h"

namespace hsanet::ops::detail {
namespace {

using dnnl::memory;
using dt = memory::data_type;

// The cached matmul for this pointwise shape and direction (C = A * B, + bias in the forward).
// bf16 numerics: A and B are bf16, C (and the bias) float32, products summed in float32; C bf16
// with Numerics::kBF16Out (forward only).
// `epilogue` (epilogue_code; forward only): the sum with c's content and the ReLU, as post-ops.
GemmPlan& get_gemm_plan(Conv2dContext& ctx, const Conv2dShape& s, Direction dir, bool with_bias,
                        Numerics numerics = Numerics::kF32, int64_t epilogue = 0) {
  if (dir == Direction::kForwardInference) dir = Direction::kForwardTraining;  // the same product
  const PlanKey key = plan_key(s, dir, with_bias, /*winograd=*/false, numerics, epilogue);
  auto it = ctx.gemm.find(key);
  if (it != ctx.gemm.end()) return it->second;
  const auto& eng = onednn_engine();
  const int64_t P = s.N * s.H * s.W, C = s.C, O = s.O;
  const dt in = numerics == Numerics::kF32 ? dt::f32 : dt::bf16;  // the operands' type
  const dt out = numerics == Numerics::kBF16Out ? dt::bf16 : dt::f32;  // the product's
  auto mat = [](int64_t rows, int64_t cols, bool transposed, dt type = dt::f32) {
    // A rows x cols matrix over a buffer that is row-major either as it is or as its transpose.
    return memory::desc({rows, cols}, type,
                        transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
  };
  memory::desc a, b, c;
  switch (dir) {
    case Direction::kForwardTraining:
    case Direction::kForwardInference:
      a = mat(P, C, false, in), b = mat(C, O, true, in), c = mat(P, O, false, out);
      break;
    case Direction::kBackwardData:
    case Direction::kBackwardDataAccumulate:
      a = mat(P, O, false, in), b = mat(O, C, false, in), c = mat(P, C, false);
      break;
    case Direction::kBackwardWeights:
      a = mat(O, P, true, in), b = mat(P, C, false, in), c = mat(O, C, false);
      break;
  }
  // Only the forward adds a bias; the backward's bias gradient is a column sum (sum_rows).
  const bool bias_here = with_bias && dir == Direction::kForwardTraining;
  const memory::desc bias_desc = bias_here ? mat(1, O, false) : memory::desc();
  // Accumulating: oneDNN adds the product to what dst holds as it writes each block (a sum
  // post-op), so the sum costs no pass of its own; a forward's epilogue works the same way.
  const dnnl::primitive_attr attr =
      epilogue_attr(dir == Direction::kBackwardDataAccumulate ? 1 : epilogue);
  dnnl::matmul::primitive_desc pd(
      bias_here ? dnnl::matmul::desc(a, b, bias_desc, c) : dnnl::matmul::desc(a, b, c), attr, eng);
  GemmPlan g;
  g.mm = dnnl::matmul(pd);
  g.a = memory(a, eng, DNNL_MEMORY_NONE);
  g.b = memory(b, eng, DNNL_MEMORY_NONE);
  g.c = memory(c, eng, DNNL_MEMORY_NONE);
  if (bias_here) g.bias = memory(bias_desc, eng, DNNL_MEMORY_NONE);
  ctx.counters.primitives_created++;
  return ctx.gemm.emplace(key, std::move(g)).first->second;
}

// a and b are float32, or bf16 bit patterns in a bf16 plan.
void run_gemm(GemmPlan& g, const void* a, const void* b, void* c, const float* bias) {
  g.a.set_data_handle(const_cast<void*>(a));
  g.b.set_data_handle(const_cast<void*>(b));
  g.c.set_data_handle(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_DST, g.c}};
  if (bias) {
    g.bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, g.bias);
  }
  g.mm.execute(onednn_stream(), args);
  onednn_stream().wait();
}

// ---------------------------------------------------------------- strided pointwise convolutions

// A 1x1 convolution with stride > 1 (ResNet's downsample shortcuts) reads only the positions
// (i * stride_h, j * stride_w). Gathered into a dense [N*OH*OW, C] matrix they make a stride-1
// pointwise convolution, so the same matmuls apply: oneDNN's matmul needs dense rows (a strided
// view falls back to a slow gemm), and its 1x1 convolution primitives with stride would need the
// weight and gradient reorders the matmuls avoid (the 1024->2048 one cost as much as its GEMM).

// The dense stride-1 convolution over the sampled positions (s itself when stride 1).
Conv2dShape subsampled(const Conv2dShape& s) {
  Conv2dShape d = s;
  d.H = s.OH(), d.W = s.OW();
  d.stride_h = d.stride_w = 1;
  d.dilation_h = d.dilation_w = 1;
  return d;
}

// xs[n, i, j, :] = x[n, i*sh, j*sw, :]; T is float, or uint16_t for bf16 bit patterns.
//   x: [N, H, W, C]  xs: [N, OH, OW, C]
template <class T>
void gather_samples(const Conv2dShape& s, const T* x, T* xs) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  const bool threaded = s.N * OH * OW * C >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t r = 0; r < s.N * OH; ++r) {  // output row r = (n, i)
    const int64_t n = r / OH, i = r % OH;
    const T* src = x + ((n * s.H + i * s.stride_h) * s.W) * C;
    T* dst = xs + r * OW * C;
    for (int64_t j = 0; j < OW; ++j)
      std::copy(src + j * s.stride_w * C, src + j * s.stride_w * C + C, dst + j * C);
  }
}

// dx = dxs at the sampled positions, 0 at the positions no window reads; or, accumulating,
// dx += dxs at the sampled positions, the rest left as it is.
//   dxs: [N, OH, OW, C]  dx: [N, H, W, C]
void scatter_samples(const Conv2dShape& s, const float* dxs, float* dx, bool accumulate) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  const bool threaded = s.N * s.H * s.W * C >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t r = 0; r < s.N * s.H; ++r) {  // input row r = (n, h)
    const int64_t n = r / s.H, h = r % s.H, i = h / s.stride_h;
    float* dst = dx + r * s.W * C;
    if (h % s.stride_h != 0 || i >= OH) {  // a row no window reads
      if (!accumulate) std::fill(dst, dst + s.W * C, 0.f);
      continue;
    }
    const float* src = dxs + (n * OH + i) * OW * C;
    for (int64_t w = 0; w < s.W; ++w) {
      const int64_t j = w / s.stride_w;
      float* d = dst + w * C;
      if (w % s.stride_w == 0 && j < OW) {
        const float* v = src + j * C;
        if (accumulate)
          for (int64_t c = 0; c < C; ++c) d[c] += v[c];
        else
          std::copy(v, v + C, d);
      } else if (!accumulate) {
        std::fill(d, d + C, 0.f);
      }
    }
  }
}

// ---------------------------------------------------------------- strided 3x3 as a matrix product

// The strided 3x3 layers with the smallest maps (ResNet's 512-channel one at 7x7 output) are
// the direct kernels' slowest (~190 GFLOP/s inside a step) and carry 9.4 MB of weights that
// the direct forward and backward-weights reorder every step. Laid out as a [P, 9C] matrix of
// input windows ("im2col", 3.6 MB there), their forward and backward-weights are products with
// the OIHW weights read in place as [O, 9C]: no reorder, and the matmuls' speed. Backward-data
// stays direct (as a product it would write a [P, 9C] matrix and then scatter-add it: slower).

// The pointwise convolution over the window matrix: C*9 "channels" at each output position.
Conv2dShape im2col_as_pointwise(const Conv2dShape& s) {
  Conv2dShape d = s;
  d.H = s.OH(), d.W = s.OW(), d.C = s.C * s.KH * s.KW;
  d.KH = d.KW = 1;
  d.stride_h = d.stride_w = 1;
  d.pad_h = d.pad_w = 0;
  return d;
}

// cols[p, c*9 + kh*3 + kw] = x[n, i*sh - ph + kh, j*sw - pw + kw, c] (0 in the padding), for
// output position p = (n, i, j): OIHW's order within a filter, so the weights need no reorder.
//   x: [N, H, W, C]  cols: [N*OH*OW, C*KH*KW]; T is float, or uint16_t for bf16 (0 is +0 there too)
template <class T>
void im2col(const Conv2dShape& s, const T* x, T* cols) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C, K = s.KH * s.KW;
  const bool threaded = s.N * OH * OW * C * K >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t p = 0; p < s.N * OH * OW; ++p) {
    const int64_t n = p / (OH * OW), i = p / OW % OH, j = p % OW;
    T* row = cols + p * C * K;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t h = i * s.stride_h - s.pad_h + kh, w = j * s.stride_w - s.pad_w + kw;
        const int64_t k = kh * s.KW + kw;
        if (h < 0 || h >= s.H || w < 0 || w >= s.W) {
          for (int64_t c = 0; c < C; ++c) row[c * K + k] = T(0);
          continue;
        }
        const T* src = x + ((n * s.H + h) * s.W + w) * C;
        for (int64_t c = 0; c < C; ++c) row[c * K + k] = src[c];
      }
  }
}

// A buffer for the rows of the pointwise shape d, [N*H*W, C] of d, in scratch slot 0.
float* rows_of(Conv2dContext& ctx, const Conv2dShape& d) {
  return ctx.scratch.get(0, static_cast<size_t>(d.N * d.H * d.W * d.C));
}

// The bf16 copy of a pointwise weight, [O, C] row-major like the OIHW float32 master: from the
// weight cache, made once per version, or (no identity) made into scratch slot 2.
const uint16_t* bf16_weights(Conv2dContext& ctx, const Conv2dShape& s, const float* w,
                             const WeightId& wid) {
  const int64_t n = s.O * s.C;
  const memory::desc md({n}, dt::bf16, memory::format_tag::a);
  auto convert = [&](float* dst) {
    float_to_bf16(w, reinterpret_cast<uint16_t*>(dst), n);
    ctx.counters.weight_reorders++;
  };
  float* copy = ctx.weights.copy(w, wid, md, convert);
  if (!copy) {
    copy = ctx.scratch.get(2, static_cast<size_t>((n + 1) / 2));
    convert(copy);
  }
  return reinterpret_cast<const uint16_t*>(copy);
}

}  // namespace

// ---------------------------------------------------------------- the passes

void pointwise_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x, const float* w,
                       const float* bias, float* y) {
  run_gemm(get_gemm_plan(ctx, s, Direction::kForwardTraining, bias != nullptr), x, w, y, bias);
}

void pointwise_backward_data(Conv2dContext& ctx, const Conv2dShape& s, const float* dy,
                             const float* w, float* dx, bool accumulate) {
  const Direction dir = accumulate ? Direction::kBackwardDataAccumulate : Direction::kBackwardData;
  run_gemm(get_gemm_plan(ctx, s, dir, false), dy, w, dx, nullptr);
}

void strided_pointwise_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                               const float* w, const float* bias, float* y) {
  const Conv2dShape d = subsampled(s);
  float* xs = rows_of(ctx, d);  // [N, OH, OW, C]
  gather_samples(s, x, xs);
  run_gemm(get_gemm_plan(ctx, d, Direction::kForwardTraining, bias != nullptr), xs, w, y, bias);
}

void strided_pointwise_backward_data(Conv2dContext& ctx, const Conv2dShape& s, const float* dy,
                                     const float* w, float* dx, bool accumulate) {
  const Conv2dShape d = subsampled(s);
  float* dxs = rows_of(ctx, d);  // [N, OH, OW, C]
  run_gemm(get_gemm_plan(ctx, d, Direction::kBackwardData, false), dy, w, dxs, nullptr);
  scatter_samples(s, dxs, dx, accumulate);
}

void pointwise_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                                const float* dy, float* dw, float* dbias) {
  const Conv2dShape d = subsampled(s);  // s itself when stride 1
  const float* xs = x;                  // [N, OH, OW, C]
  if (s.stride_h > 1 || s.stride_w > 1) {
    float* buf = rows_of(ctx, d);
    gather_samples(s, x, buf);
    xs = buf;
  }
  run_gemm(get_gemm_plan(ctx, d, Direction::kBackwardWeights, false), dy, xs, dw, nullptr);
  // From y = ... + bias[o]: dbias[o] = the sum of dy over every position.
  if (dbias) sum_rows(dy, dbias, d.N * d.H * d.W, s.O);
}

void im2col_forward(Conv2dContext& ctx, const Conv2dShape& s, const float* x, const float* w,
                    const float* bias, float* y) {
  const Conv2dShape d = im2col_as_pointwise(s);
  float* cols = rows_of(ctx, d);  // [P, 9C]
  im2col(s, x, cols);
  run_gemm(get_gemm_plan(ctx, d, Direction::kForwardTraining, bias != nullptr), cols, w, y, bias);
}

void im2col_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, const float* x,
                             const float* dy, float* dw, float* dbias) {
  const Conv2dShape d = im2col_as_pointwise(s);
  float* cols = rows_of(ctx, d);  // [P, 9C]
  im2col(s, x, cols);
  run_gemm(get_gemm_plan(ctx, d, Direction::kBackwardWeights, false), dy, cols, dw, nullptr);
  if (dbias) sum_rows(dy, dbias, d.N * d.H * d.W, s.O);
}

// ---------------------------------------------------------------- bf16 mixed precision

namespace {
Numerics forward_numerics(bool y_bf16) { return y_bf16 ? Numerics::kBF16Out : Numerics::kBF16; }
}  // namespace

void pointwise_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                            const float* w, const float* bias, void* y, bool y_bf16,
                            const WeightId& wid, int64_t epilogue) {
  run_gemm(get_gemm_plan(ctx, s, Direction::kForwardTraining, bias != nullptr,
                         forward_numerics(y_bf16), epilogue),
           x, bf16_weights(ctx, s, w, wid), y, bias);
}

void pointwise_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* dy,
                                  const float* w, float* dx, const WeightId& wid,
                                  bool accumulate) {
  const Direction dir = accumulate ? Direction::kBackwardDataAccumulate : Direction::kBackwardData;
  run_gemm(get_gemm_plan(ctx, s, dir, false, Numerics::kBF16), dy, bf16_weights(ctx, s, w, wid), dx, nullptr);
}

void strided_pointwise_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                    const float* w, const float* bias, void* y, bool y_bf16,
                                    const WeightId& wid, int64_t epilogue) {
  const Conv2dShape d = subsampled(s);
  uint16_t* xs = reinterpret_cast<uint16_t*>(rows_of(ctx, d));  // [N, OH, OW, C] bf16
  gather_samples(s, x, xs);
  run_gemm(get_gemm_plan(ctx, d, Direction::kForwardTraining, bias != nullptr,
                         forward_numerics(y_bf16), epilogue),
           xs, bf16_weights(ctx, d, w, wid), y, bias);
}

void strided_pointwise_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s,
                                          const uint16_t* dy, const float* w, float* dx,
                                          const WeightId& wid, bool accumulate) {
  const Conv2dShape d = subsampled(s);
  float* dxs = rows_of(ctx, d);  // [N, OH, OW, C] float32
  run_gemm(get_gemm_plan(ctx, d, Direction::kBackwardData, false, Numerics::kBF16), dy,
           bf16_weights(ctx, d, w, wid), dxs, nullptr);
  scatter_samples(s, dxs, dx, accumulate);
}

void im2col_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                         const float* w, const float* bias, void* y, bool y_bf16,
                         const WeightId& wid, int64_t epilogue) {
  const Conv2dShape d = im2col_as_pointwise(s);
  uint16_t* cols = reinterpret_cast<uint16_t*>(rows_of(ctx, d));  // [P, 9C] bf16
  im2col(s, x, cols);
  run_gemm(get_gemm_plan(ctx, d, Direction::kForwardTraining, bias != nullptr,
                         forward_numerics(y_bf16), epilogue),
           cols, bf16_weights(ctx, d, w, wid), y, bias);
}

void im2col_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                  const uint16_t* dy, float* dw, float* dbias) {
  const Conv2dShape d = im2col_as_pointwise(s);
  uint16_t* cols = reinterpret_cast<uint16_t*>(rows_of(ctx, d));  // [P, 9C] bf16
  im2col(s, x, cols);
  // The pointwise weight gradient over the window matrix, bias included.
  pointwise_backward_weights_bf16(ctx, d, cols, dy, dw, dbias);
}

void pointwise_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                     const uint16_t* dy, float* dw, float* dbias) {
  const Conv2dShape d = subsampled(s);  // s itself when stride 1
  const uint16_t* xs = x;               // [N, OH, OW, C] bf16
  if (s.stride_h > 1 || s.stride_w > 1) {
    uint16_t* buf = reinterpret_cast<uint16_t*>(rows_of(ctx, d));
    gather_samples(s, x, buf);
    xs = buf;
  }
  run_gemm(get_gemm_plan(ctx, d, Direction::kBackwardWeights, false, Numerics::kBF16), dy, xs, dw, nullptr);
  if (dbias) {  // the sum of dy over every position, from dy widened into scratch slot 1
    const int64_t P = d.N * d.H * d.W;
    float* dyf = ctx.scratch.get(1, static_cast<size_t>(P * s.O));
    bf16_to_float(dy, dyf, P * s.O);
    sum_rows(dyf, dbias, P, s.O);
  }
}

}  // namespace hsanet::ops::detail
