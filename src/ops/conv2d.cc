// Convolutions on oneDNN 2.6 (the v2 API: an op descriptor, then a primitive descriptor).
//
// Layouts. Activations are NHWC and oneDNN reads and writes them in place (memory format `nhwc`
// over the logical dims N, C, H, W). Weights live in PyTorch's OIHW order in their Tensor; each
// primitive is created with format_tag::any for its weights and picks a blocked layout
// (OIhw16i16o and friends), so the weights are reordered into it -- once per weight version,
// thanks to the WeightCache below -- and the weight gradient comes back in the primitive's layout
// and is reordered to OIHW once per call.
//
// Caches. Creating a primitive descriptor and its primitive costs far more than small convolutions
// do (JIT code generation), so each (geometry, direction) gets one Plan, built on first use and
// reused. The forward_training descriptor is the hint for backward-data and backward-weights, as
// oneDNN requires for training.
//
// Which kernels run where (each choice measured; docs/conv.md, docs/winograd.md):
//   1x1, small maps     oneDNN matmuls over the positions, OIHW weights read in place and the
//                       weight gradient written straight in OIHW: no reorder at all. Strided
//                       ones gather their positions first.
//   1x1, >= 3136 out    the forward on oneDNN's 1x1 convolution kernels, faster there, and
//   positions           from 12544 (stride 1) the backward-weights; backward-data stays a matmul.
//   3x3/1, >= 56x56     oneDNN's Winograd F(4x4, 3x3) (under Conv2dAlgorithm::kFast). It reads
//                       and writes only nChw16c, so the plan converts NHWC in and out through
//                       two scratch buffers shared by every plan.
//   3x3/1, 28x28        hsanet's own F(4x4, 3x3) on NHWC (winograd.h).
//   3x3/1, below 28x28  hsanet's own F(2x2, 3x3) on NHWC; both own Winograds multiply with 16
//                       or 36 batched oneDNN matmuls and cache the transformed weights per
//                       weight version like the reordered ones.
//   3x3/2 at 7x7 out    im2col + the matmuls for the forward and backward-weights.
//   everything else     oneDNN's direct convolution primitives.
#include "ops/conv2d.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/onednn_engine.h"
#include "ops/parallel.h"
#include "ops/winograd.h"

namespace hsanet::ops {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

std::string describe(const Conv2dShape& s) {
  auto str = [](int64_t v) { return std::to_string(v); };
  return "input [" + str(s.N) + ", " + str(s.H) + ", " + str(s.W) + ", " + str(s.C) +
         "] (NHWC), weight [" + str(s.O) + ", " + str(s.groups > 0 ? s.C / s.groups : s.C) + ", " +
         str(s.KH) + ", " + str(s.KW) + "] (OIHW), stride (" + str(s.stride_h) + ", " +
         str(s.stride_w) + "), padding (" + str(s.pad_h) + ", " + str(s.pad_w) + "), dilation (" +
         str(s.dilation_h) + ", " + str(s.dilation_w) + "), groups " + str(s.groups);
}

// ---------------------------------------------------------------- memory descriptors

memory::desc activation_md(int64_t n, int64_t c, int64_t h, int64_t w) {
  // oneDNN's logical order is always N, C, H, W; `nhwc` says channels are innermost in memory.
  return memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
}

// The weights as the Tensor holds them. With groups, oneDNN wants a leading G dimension:
// [G, O/G, C/G, KH, KW] in `goihw` is byte-for-byte the same array as OIHW.
memory::dims weight_dims(const Conv2dShape& s) {
  if (s.groups == 1) return {s.O, s.C, s.KH, s.KW};
  return {s.groups, s.O / s.groups, s.C / s.groups, s.KH, s.KW};
}
memory::desc user_weight_md(const Conv2dShape& s) {
  return memory::desc(weight_dims(s), dt::f32, s.groups == 1 ? tag::oihw : tag::goihw);
}
memory::desc any_weight_md(const Conv2dShape& s) {
  return memory::desc(weight_dims(s), dt::f32, tag::any);
}
memory::desc bias_md(const Conv2dShape& s, bool with_bias) {
  // A zero descriptor tells oneDNN there is no bias.
  return with_bias ? memory::desc({s.O}, dt::f32, tag::x) : memory::desc();
}

struct Geometry {  // the dims lists the op descriptors take
  memory::dims strides, dilates, pad_l, pad_r;
};
Geometry geometry(const Conv2dShape& s) {
  // oneDNN counts dilation from 0 (0 = dense), PyTorch from 1. Right padding equal to the left
  // padding reproduces PyTorch's floor: oneDNN checks (H - extent + pl + pr) / stride + 1 == OH
  // with integer division, and the rows past the last window are never read.
  return {{s.stride_h, s.stride_w},
          {s.dilation_h - 1, s.dilation_w - 1},
          {s.pad_h, s.pad_w},
          {s.pad_h, s.pad_w}};
}

// ---------------------------------------------------------------- plans (cached primitives)

enum class Direction : int64_t {
  kForwardTraining, kForwardInference, kBackwardData, kBackwardWeights,
  kBackwardDataAccumulate,  // matmul plans only: dx += dy * w (a sum post-op)
};

std::atomic<Conv2dAlgorithm> g_algorithm{Conv2dAlgorithm::kFast};

// Whether this CPU runs oneDNN's Winograd at all (it needs AVX-512): asked once, by creating a
// small forward descriptor.
bool winograd_available() {
  static const bool available = [] {
    try {
      const memory::desc x({1, 16, 8, 8}, dt::f32, tag::any);
      const memory::desc w({16, 16, 3, 3}, dt::f32, tag::any);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training,
                                        dnnl::algorithm::convolution_winograd, x, w, x, {1, 1},
                                        {1, 1}, {1, 1});
      dnnl::convolution_forward::primitive_desc pd(d, onednn_engine());
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

// The geometries oneDNN's avx512 Winograd supports, and where it measured faster (docs/conv.md).
bool winograd_geometry(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 &&
         s.C % 16 == 0 && s.O % 16 == 0 && s.OH() * s.OW() >= 28 * 28;
}

// Everything that makes two convolutions need different primitives.
using PlanKey = std::array<int64_t, 17>;
PlanKey plan_key(const Conv2dShape& s, Direction dir, bool with_bias) {
  return {s.N, s.H, s.W, s.C, s.O, s.KH, s.KW, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
          s.dilation_h, s.dilation_w, s.groups, static_cast<int64_t>(dir), with_bias ? 1 : 0,
          conv2d_uses_winograd(s) ? 1 : 0};
}

struct Plan {
  dnnl::primitive conv;
  // Memories created once and re-pointed at each call's buffers with set_data_handle.
  memory src, weights, bias, dst;  // roles by direction: see conv2d_forward and the backwards
  memory::desc prim_weight_md;     // the weight layout the primitive chose
  bool weights_plain = false;      // the primitive wants OIHW as is: no reorder needed
  dnnl::reorder weight_reorder;    // OIHW -> prim_weight_md (forward, backward-data), or
                                   // prim_weight_md -> OIHW (backward-weights)
  memory user_weights;             // OIHW view of the caller's buffer
  memory scratch_weights;          // backward-weights: the gradient in the primitive's layout
  // Winograd: the primitive's own (blocked) views of the input-side and output-side activation,
  // pointed at the shared scratch at each call, and the conversions from and to NHWC.
  memory x_blocked, y_blocked;     // [N, C, H, W] and [N, O, OH, OW] in nChw16c
  dnnl::reorder x_to_blocked, x_to_nhwc, y_to_blocked, y_to_nhwc;
  bool x_c16 = false, y_c16 = false;  // that side's blocked layout is nChw16c (own copy loops)
};

std::atomic<int64_t> g_primitives_created{0};
std::atomic<int64_t> g_weight_reorders{0};
std::atomic<int64_t> g_gradient_reorders{0};
std::atomic<int64_t> g_winograd_primitives{0};
std::atomic<int64_t> g_winograd2x2_calls{0};
std::atomic<int64_t> g_winograd4x4_calls{0};
std::atomic<int64_t> g_blocked_dy_reuses{0};

// All cache state sits behind one mutex. A convolution already uses every OpenMP thread, so
// running two at once from different threads would only oversubscribe the cores; the lock also
// protects the memories a Plan re-points.
std::mutex g_mutex;
std::map<PlanKey, Plan> g_plans;
// The forward_training descriptors, kept as hints for the backward descriptors.
std::map<PlanKey, dnnl::convolution_forward::primitive_desc> g_forward_pds;

dnnl::algorithm algorithm_for(const Conv2dShape& s) {
  return conv2d_uses_winograd(s) ? dnnl::algorithm::convolution_winograd
                                 : dnnl::algorithm::convolution_direct;
}
// NHWC, or `any` for Winograd, which picks its blocked layout.
memory::desc primitive_activation_md(const Conv2dShape& s, int64_t c, int64_t h, int64_t w) {
  if (!conv2d_uses_winograd(s)) return activation_md(s.N, c, h, w);
  return memory::desc({s.N, c, h, w}, dt::f32, tag::any);
}

// Three scratch buffers (64-byte aligned, grown to the largest size asked for) shared by every
// plan: the blocked activations of a Winograd call (slot 0 the input side, 1 the output side),
// the sampled matrix of a strided 1x1 convolution (slot 0), or F(2x2, 3x3)'s transformed input
// (slot 0), output (1) and weights or weight gradient (2). Used only under g_mutex, and only
// within one call; conv2d_clear_caches frees them.
struct ScratchBuffer {
  struct Free { void operator()(float* p) const { std::free(p); } };
  std::unique_ptr<float, Free> data;
  size_t floats = 0;
};
std::array<ScratchBuffer, 3> g_scratch;

// What slot 1 holds after a backward-data on oneDNN's Winograd: dy in the primitive's blocked
// layout, which the backward-weights that follows with the same dy reads instead of converting
// dy again (conv2d_backward_weights' after_backward_data). Any other use of slot 1 clears it.
struct BlockedDy {
  const float* dy = nullptr;
  memory::desc md;
};
BlockedDy g_blocked_dy;

float* scratch(int slot, size_t floats) {
  if (slot == 1) g_blocked_dy = BlockedDy{};
  ScratchBuffer& b = g_scratch[static_cast<size_t>(slot)];
  if (b.floats < floats) {
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    b.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!b.data) throw std::bad_alloc();
    b.floats = floats;
  }
  return b.data.get();
}

// Fills the activation fields of a plan whose primitive chose layouts x_md / y_md for its
// input-side and output-side activations (both NHWC, or both blocked).
void set_activation_layout(Plan& p, const memory::desc& x_md, const memory::desc& y_md) {
  if (x_md == p.src.get_desc() && y_md == p.dst.get_desc()) return;
  const auto& eng = onednn_engine();
  p.x_blocked = memory(x_md, eng, DNNL_MEMORY_NONE);
  p.y_blocked = memory(y_md, eng, DNNL_MEMORY_NONE);
  p.x_to_blocked = dnnl::reorder(p.src, p.x_blocked);
  p.x_to_nhwc = dnnl::reorder(p.x_blocked, p.src);
  p.y_to_blocked = dnnl::reorder(p.dst, p.y_blocked);
  p.y_to_nhwc = dnnl::reorder(p.y_blocked, p.dst);
  auto is_c16 = [](const memory::desc& nhwc, const memory::desc& blocked) {
    const memory::dims d = nhwc.dims();  // N, C, H, W
    return d[1] % 16 == 0 && blocked == memory::desc(d, dt::f32, tag::nChw16c);
  };
  p.x_c16 = is_c16(p.src.get_desc(), x_md);
  p.y_c16 = is_c16(p.dst.get_desc(), y_md);
}

// NHWC <-> nChw16c, the layout oneDNN's Winograd reads and writes: each pixel's channels move as
// whole 16-channel slices, which a plain copy threaded over pixels does faster than oneDNN's
// generic reorder (0.27 against 0.47 ms for 56x56x64 at batch 4 from cold caches).
//   nhwc: [N, H, W, C]  blocked: [N, C/16, H, W, 16]
void convert_c16(const memory& nhwc_mem, const memory& blocked_mem, bool to_blocked) {
  const memory::dims d = nhwc_mem.get_desc().dims();
  const int64_t N = d[0], C = d[1], HW = d[2] * d[3], CB = C / 16;
  float* nhwc = static_cast<float*>(nhwc_mem.get_data_handle());
  float* blocked = static_cast<float*>(blocked_mem.get_data_handle());
  const bool threaded = N * HW * C >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t r = 0; r < N * HW; ++r) {  // pixel r = (n, hw)
    const int64_t n = r / HW, hw = r % HW;
    float* pixel = nhwc + r * C;
    for (int64_t cb = 0; cb < CB; ++cb) {
      float* slice = blocked + ((n * CB + cb) * HW + hw) * 16;
      if (to_blocked)
        std::copy(pixel + cb * 16, pixel + cb * 16 + 16, slice);
      else
        std::copy(slice, slice + 16, pixel + cb * 16);
    }
  }
}

// One side's activation from the caller's NHWC buffer into the primitive's blocked view, or
// back: by the copy loops above for nChw16c, else by the plan's oneDNN reorders.
void convert(bool c16, memory nhwc, memory blocked, dnnl::reorder& in, dnnl::reorder& out,
             bool to_blocked) {
  if (c16) return convert_c16(nhwc, blocked, to_blocked);
  if (to_blocked)
    in.execute(onednn_stream(), nhwc, blocked);
  else
    out.execute(onednn_stream(), blocked, nhwc);
}
// The plan's input side (x) and output side (y).
void convert_x(Plan& p, memory blocked, bool to_blocked) {
  convert(p.x_c16, p.src, blocked, p.x_to_blocked, p.x_to_nhwc, to_blocked);
}
void convert_y(Plan& p, memory blocked, bool to_blocked) {
  convert(p.y_c16, p.dst, blocked, p.y_to_blocked, p.y_to_nhwc, to_blocked);
}
// The memories the primitive reads and writes: the caller's NHWC buffers, or (Winograd) the
// scratch buffers in the primitive's layout.
memory x_side(Plan& p) {
  if (!p.x_blocked) return p.src;
  p.x_blocked.set_data_handle(scratch(0, p.x_blocked.get_desc().get_size() / sizeof(float)));
  return p.x_blocked;
}
memory y_side(Plan& p) {
  if (!p.y_blocked) return p.dst;
  p.y_blocked.set_data_handle(scratch(1, p.y_blocked.get_desc().get_size() / sizeof(float)));
  return p.y_blocked;
}

const dnnl::convolution_forward::primitive_desc& forward_pd(const Conv2dShape& s, bool training,
                                                           bool with_bias) {
  const PlanKey key = plan_key(
      s, training ? Direction::kForwardTraining : Direction::kForwardInference, with_bias);
  auto it = g_forward_pds.find(key);
  if (it != g_forward_pds.end()) return it->second;
  const Geometry g = geometry(s);
  const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::convolution_forward::desc d(prop, algorithm_for(s), primitive_activation_md(s, s.C, s.H, s.W),
                                    any_weight_md(s), bias_md(s, with_bias),
                                    primitive_activation_md(s, s.O, s.OH(), s.OW()), g.strides,
                                    g.dilates, g.pad_l, g.pad_r);
  return g_forward_pds.emplace(key, dnnl::convolution_forward::primitive_desc(d, onednn_engine()))
      .first->second;
}

// Fills the weight fields of a plan whose primitive reads weights in `prim_md`.
void set_weight_layout(Plan& p, const Conv2dShape& s, const memory::desc& prim_md, bool to_user) {
  const auto& eng = onednn_engine();
  const memory::desc user_md = user_weight_md(s);
  p.prim_weight_md = prim_md;
  p.weights_plain = (prim_md == user_md);
  p.user_weights = memory(user_md, eng, DNNL_MEMORY_NONE);
  if (p.weights_plain) return;
  p.weights = memory(prim_md, eng, DNNL_MEMORY_NONE);
  if (to_user) {
    p.scratch_weights = memory(prim_md, eng);  // owns its buffer
    p.weight_reorder = dnnl::reorder(p.scratch_weights, p.user_weights);
  } else {
    p.weight_reorder = dnnl::reorder(p.user_weights, p.weights);
  }
}

Plan& get_plan(const Conv2dShape& s, Direction dir, bool with_bias) {
  const PlanKey key = plan_key(s, dir, with_bias);
  auto it = g_plans.find(key);
  if (it != g_plans.end()) return it->second;

  const auto& eng = onednn_engine();
  const Geometry g = geometry(s);
  const memory::desc x_md = activation_md(s.N, s.C, s.H, s.W);
  const memory::desc y_md = activation_md(s.N, s.O, s.OH(), s.OW());
  const memory::desc x_any = primitive_activation_md(s, s.C, s.H, s.W);
  const memory::desc y_any = primitive_activation_md(s, s.O, s.OH(), s.OW());
  Plan p;
  switch (dir) {
    case Direction::kForwardTraining:
    case Direction::kForwardInference: {
      const auto& pd = forward_pd(s, dir == Direction::kForwardTraining, with_bias);
      p.conv = dnnl::convolution_forward(pd);
      p.src = memory(x_md, eng, DNNL_MEMORY_NONE);
      p.dst = memory(y_md, eng, DNNL_MEMORY_NONE);
      if (with_bias) p.bias = memory(bias_md(s, true), eng, DNNL_MEMORY_NONE);
      set_weight_layout(p, s, pd.weights_desc(), /*to_user=*/false);
      set_activation_layout(p, pd.src_desc(), pd.dst_desc());
      break;
    }
    case Direction::kBackwardData: {
      // Backward-data has no bias; the hint is the bias-free forward of the same geometry.
      dnnl::convolution_backward_data::desc d(algorithm_for(s), x_any, any_weight_md(s), y_any,
                                              g.strides, g.dilates, g.pad_l, g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(d, eng, forward_pd(s, true, false));
      p.conv = dnnl::convolution_backward_data(pd);
      p.src = memory(x_md, eng, DNNL_MEMORY_NONE);  // diff_src
      p.dst = memory(y_md, eng, DNNL_MEMORY_NONE);  // diff_dst
      set_weight_layout(p, s, pd.weights_desc(), /*to_user=*/false);
      set_activation_layout(p, pd.diff_src_desc(), pd.diff_dst_desc());
      break;
    }
    case Direction::kBackwardWeights: {
      dnnl::convolution_backward_weights::desc d(algorithm_for(s), x_any, any_weight_md(s),
                                                 bias_md(s, with_bias), y_any, g.strides,
                                                 g.dilates, g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(d, eng,
                                                            forward_pd(s, true, with_bias));
      p.conv = dnnl::convolution_backward_weights(pd);
      p.src = memory(x_md, eng, DNNL_MEMORY_NONE);
      p.dst = memory(y_md, eng, DNNL_MEMORY_NONE);  // diff_dst
      if (with_bias) p.bias = memory(bias_md(s, true), eng, DNNL_MEMORY_NONE);  // diff_bias
      set_weight_layout(p, s, pd.diff_weights_desc(), /*to_user=*/true);
      set_activation_layout(p, pd.src_desc(), pd.diff_dst_desc());
      break;
    }
    case Direction::kBackwardDataAccumulate:  // a matmul-only direction (get_gemm_plan)
      throw std::logic_error("conv2d: no convolution primitive accumulates into dx");
  }
  g_primitives_created++;
  if (conv2d_uses_winograd(s)) g_winograd_primitives++;
  return g_plans.emplace(key, std::move(p)).first->second;
}

// ---------------------------------------------------------------- pointwise convolutions as GEMMs

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0 && s.groups == 1;
}

// C = A * B (+ bias) over row-major or transposed views of the caller's buffers, with P = N*H*W:
//   forward          y[P, O]  = x[P, C] * w^T         (w: [O, C] row-major, read as [C, O])
//   backward-data    dx[P, C] = dy[P, O] * w[O, C]
//   backward-weights dw[O, C] = dy^T * x              (dy: [P, O], read as [O, P])
struct GemmPlan {
  dnnl::primitive mm;
  memory a, b, c, bias;
};
std::map<PlanKey, GemmPlan> g_gemm_plans;

GemmPlan& get_gemm_plan(const Conv2dShape& s, Direction dir, bool with_bias) {
  if (dir == Direction::kForwardInference) dir = Direction::kForwardTraining;  // the same product
  const PlanKey key = plan_key(s, dir, with_bias);
  auto it = g_gemm_plans.find(key);
  if (it != g_gemm_plans.end()) return it->second;
  const auto& eng = onednn_engine();
  const int64_t P = s.N * s.H * s.W, C = s.C, O = s.O;
  auto mat = [](int64_t rows, int64_t cols, bool transposed) {
    // A rows x cols matrix over a buffer that is row-major either as it is or as its transpose.
    return memory::desc({rows, cols}, dt::f32,
                        transposed ? memory::dims{1, rows} : memory::dims{cols, 1});
  };
  memory::desc a, b, c;
  switch (dir) {
    case Direction::kForwardTraining:
    case Direction::kForwardInference: a = mat(P, C, false), b = mat(C, O, true), c = mat(P, O, false); break;
    case Direction::kBackwardData:
    case Direction::kBackwardDataAccumulate: a = mat(P, O, false), b = mat(O, C, false), c = mat(P, C, false); break;
    case Direction::kBackwardWeights: a = mat(O, P, true), b = mat(P, C, false), c = mat(O, C, false); break;
  }
  // Only the forward adds a bias; the backward's bias gradient is a column sum (sum_rows).
  const bool bias_here = with_bias && dir == Direction::kForwardTraining;
  const memory::desc bias_desc = bias_here ? mat(1, O, false) : memory::desc();
  // Accumulating: oneDNN adds the product to what dst holds as it writes each block (a sum
  // post-op), so the sum costs no pass of its own.
  dnnl::primitive_attr attr;
  if (dir == Direction::kBackwardDataAccumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd(
      bias_here ? dnnl::matmul::desc(a, b, bias_desc, c) : dnnl::matmul::desc(a, b, c), attr, eng);
  GemmPlan g;
  g.mm = dnnl::matmul(pd);
  g.a = memory(a, eng, DNNL_MEMORY_NONE);
  g.b = memory(b, eng, DNNL_MEMORY_NONE);
  g.c = memory(c, eng, DNNL_MEMORY_NONE);
  if (bias_here) g.bias = memory(bias_desc, eng, DNNL_MEMORY_NONE);
  g_primitives_created++;
  return g_gemm_plans.emplace(key, std::move(g)).first->second;
}

// ---------------------------------------------------------------- strided pointwise convolutions

// A 1x1 convolution with stride > 1 (ResNet's downsample shortcuts) reads only the positions
// (i * stride_h, j * stride_w). Gathered into a dense [N*OH*OW, C] matrix they make a stride-1
// pointwise convolution, so the same matmuls apply: oneDNN's matmul needs dense rows (a strided
// view falls back to a slow gemm), and its 1x1 convolution primitives with stride would need the
// weight and gradient reorders the matmuls avoid (the 1024->2048 one cost as much as its GEMM).
bool is_strided_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.pad_h == 0 && s.pad_w == 0 && s.groups == 1 &&
         (s.stride_h > 1 || s.stride_w > 1);
}

// The dense stride-1 convolution over the sampled positions.
Conv2dShape subsampled(const Conv2dShape& s) {
  Conv2dShape d = s;
  d.H = s.OH(), d.W = s.OW();
  d.stride_h = d.stride_w = 1;
  d.dilation_h = d.dilation_w = 1;
  return d;
}

// xs[n, i, j, :] = x[n, i*sh, j*sw, :]
//   x: [N, H, W, C]  xs: [N, OH, OW, C]
void gather_samples(const Conv2dShape& s, const float* x, float* xs) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C;
  const bool threaded = s.N * OH * OW * C >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t r = 0; r < s.N * OH; ++r) {  // output row r = (n, i)
    const int64_t n = r / OH, i = r % OH;
    const float* src = x + ((n * s.H + i * s.stride_h) * s.W) * C;
    float* dst = xs + r * OW * C;
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
bool im2col_geometry(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 &&
         s.C >= 256 && s.OH() * s.OW() <= 7 * 7;
}

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
//   x: [N, H, W, C]  cols: [N*OH*OW, C*KH*KW]
void im2col(const Conv2dShape& s, const float* x, float* cols) {
  const int64_t OH = s.OH(), OW = s.OW(), C = s.C, K = s.KH * s.KW;
  const bool threaded = s.N * OH * OW * C * K >= kParallelGrain;
#pragma omp parallel for schedule(static) if (threaded)
  for (int64_t p = 0; p < s.N * OH * OW; ++p) {
    const int64_t n = p / (OH * OW), i = p / OW % OH, j = p % OW;
    float* row = cols + p * C * K;
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        const int64_t h = i * s.stride_h - s.pad_h + kh, w = j * s.stride_w - s.pad_w + kw;
        const int64_t k = kh * s.KW + kw;
        if (h < 0 || h >= s.H || w < 0 || w >= s.W) {
          for (int64_t c = 0; c < C; ++c) row[c * K + k] = 0.f;
          continue;
        }
        const float* src = x + ((n * s.H + h) * s.W + w) * C;
        for (int64_t c = 0; c < C; ++c) row[c * K + k] = src[c];
      }
  }
}

// ---------------------------------------------------------------- large 1x1 maps on conv kernels

// Where oneDNN's own 1x1 convolution kernels beat the matmuls: forward over 3136 and more output
// positions (ResNet's 56x56 and 28x28 maps at batch 4; the strided ones too), and the stride-1
// ones' backward-weights over 12544 (the 56x56 maps; at 28x28 the matmuls were ~0.7 ms a step
// faster). Measured inside a ResNet-50 step (docs/conv.md); the matmuls stay faster for
// backward-data, where they also add the residual's gradient as they write, and on the smaller
// maps.
constexpr int64_t kPointwiseForwardOnConv = 3136, kPointwiseWeightsOnConv = 12544;
bool pointwise_forward_on_conv(const Conv2dShape& s) {
  return (is_pointwise(s) || is_strided_pointwise(s)) &&
         s.N * s.OH() * s.OW() >= kPointwiseForwardOnConv;
}
bool pointwise_weights_on_conv(const Conv2dShape& s) {
  return is_pointwise(s) && s.N * s.OH() * s.OW() >= kPointwiseWeightsOnConv;
}

void run_gemm(GemmPlan& g, const float* a, const float* b, float* c, const float* bias) {
  g.a.set_data_handle(const_cast<float*>(a));
  g.b.set_data_handle(const_cast<float*>(b));
  g.c.set_data_handle(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, g.a}, {DNNL_ARG_WEIGHTS, g.b}, {DNNL_ARG_DST, g.c}};
  if (bias) {
    g.bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, g.bias);
  }
  g.mm.execute(onednn_stream(), args);
  onednn_stream().wait();
}

// ---------------------------------------------------------------- reordered-weight cache

// One weight buffer in one primitive layout. Keyed by the owner's address; `owner` (a weak
// pointer) tells a live owner from a dead one whose address was reused, and `version` says
// whether the values changed since the reorder.
struct PackedWeight {
  std::weak_ptr<const void> owner;
  uint64_t version = 0;
  const float* source = nullptr;  // the OIHW buffer the reorder read
  memory::desc md;
  memory packed;  // owns its buffer, in layout md
};
std::unordered_multimap<const void*, PackedWeight> g_packed;

bool same_owner(const std::weak_ptr<const void>& a, const std::weak_ptr<const void>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

void drop_dead_weights() {
  for (auto it = g_packed.begin(); it != g_packed.end();)
    it = it->second.owner.expired() ? g_packed.erase(it) : std::next(it);
}

// The cached copy of this version of a weight in layout `md`, remade by fill(copy) when it is
// missing or stale; nullptr when the call gives no owner (nothing to key the cache on).
template <class Fill>
float* cached_copy(const float* w, const WeightId& wid, const memory::desc& md, const Fill& fill) {
  const std::shared_ptr<const void> owner = wid.owner.lock();
  if (!owner) return nullptr;
  PackedWeight* entry = nullptr;
  auto range = g_packed.equal_range(owner.get());
  for (auto it = range.first; it != range.second; ++it)
    if (same_owner(it->second.owner, wid.owner) && it->second.md == md) entry = &it->second;
  float* copy = nullptr;
  if (entry) copy = static_cast<float*>(entry->packed.get_data_handle());
  if (entry && entry->version == wid.version && entry->source == w) return copy;
  if (!entry) {
    drop_dead_weights();  // new entries are rare (once per weight and layout): prune here
    PackedWeight fresh;
    fresh.owner = wid.owner;
    fresh.md = md;
    fresh.packed = memory(md, onednn_engine());
    entry = &g_packed.emplace(owner.get(), std::move(fresh))->second;
    copy = static_cast<float*>(entry->packed.get_data_handle());
  }
  fill(copy);
  entry->version = wid.version;
  entry->source = w;
  return copy;
}

// Returns the weights in the plan's layout: the caller's buffer itself when the layouts agree,
// else a reordered copy, from the cache when this version of this weight was reordered before.
memory weights_for(Plan& p, const float* w, const WeightId& wid) {
  p.user_weights.set_data_handle(const_cast<float*>(w));
  if (p.weights_plain) return p.user_weights;
  auto reorder_into = [&](float* dst) {
    p.weights.set_data_handle(dst);
    p.weight_reorder.execute(onednn_stream(), p.user_weights, p.weights);
    g_weight_reorders++;
  };
  float* copy = cached_copy(w, wid, p.prim_weight_md, reorder_into);
  if (!copy) {  // no identity: reorder into the plan's own scratch memory
    if (!p.scratch_weights) p.scratch_weights = memory(p.prim_weight_md, onednn_engine());
    copy = static_cast<float*>(p.scratch_weights.get_data_handle());
    reorder_into(copy);
  }
  p.weights.set_data_handle(copy);
  return p.weights;
}

// ---------------------------------------------------------------- Winograd F(2x2, 3x3)

// Narrower layers' 16 products are too small for the matmuls to beat the direct kernels.
constexpr int64_t kWinograd2x2MinChannels = 64;

bool winograd2x2_geometry(const Conv2dShape& s) {
  return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 1 &&
         s.pad_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 &&
         s.C >= kWinograd2x2MinChannels && s.O >= kWinograd2x2MinChannels &&
         s.OH() * s.OW() < 28 * 28;
}

// The passes' counters, by tile size.
std::atomic<int64_t>& winograd_calls(int64_t m) {
  return m == 2 ? g_winograd2x2_calls : g_winograd4x4_calls;
}

// U = the weights' transform, [T, O, C]: cached per weight version, or made in scratch slot 2.
const float* winograd_weights(int64_t m, const Conv2dShape& s, const float* w,
                              const WeightId& wid) {
  const int64_t T = (m + 2) * (m + 2);
  const memory::desc md({T, s.O, s.C}, dt::f32, tag::abc);
  auto transform = [&](float* U) { winograd::weight_transform(m, s.O, s.C, w, U); };
  const float* U = cached_copy(w, wid, md, transform);
  if (U) return U;
  float* own = scratch(2, static_cast<size_t>(T * s.C * s.O));
  transform(own);
  return own;
}

// One pass's tiling and its two transformed activations, in the shared scratch slots (the
// weights' transform or gradient, when needed, takes slot 2); making one counts the pass.
// T = (m+2)^2 tile positions.
struct WinogradPass {
  winograd::Tiling tl;
  int64_t T, P;
  float* in;   // V or dV: [T, P, C], slot 0
  float* out;  // M or dM: [T, P, O], slot 1
  WinogradPass(int64_t m, const Conv2dShape& s)
      : tl{m, s.N, s.H, s.W}, T(tl.positions()), P(tl.tiles()),
        in(scratch(0, static_cast<size_t>(T * P * s.C))),
        out(scratch(1, static_cast<size_t>(T * P * s.O))) {
    winograd_calls(m)++;
  }
};

// The three passes with m x m output blocks (winograd.h has the algebra).
void winograd_forward(int64_t m, const Conv2dShape& s, const float* x, const float* w,
                      const float* bias, float* y, const WeightId& wid) {
  const WinogradPass w2(m, s);
  const float* U = winograd_weights(m, s, w, wid);
  winograd::input_transform(w2.tl, s.C, x, w2.in);
  matmul(w2.in, U, w2.out, w2.T, w2.P, s.O, s.C, false, /*trans_b=*/true);  // M_t = V_t U_t^T
  winograd::output_transform(w2.tl, s.O, w2.out, bias, y);
}

void winograd_backward_data(int64_t m, const Conv2dShape& s, const float* dy, const float* w,
                            float* dx, const WeightId& wid) {
  const WinogradPass w2(m, s);
  const float* U = winograd_weights(m, s, w, wid);
  winograd::output_transform_backward(w2.tl, s.O, dy, w2.out);
  matmul(w2.out, U, w2.in, w2.T, w2.P, s.C, s.O);  // dV_t = dM_t U_t
  winograd::input_transform_backward(w2.tl, s.C, w2.in, dx);
}

void winograd_backward_weights(int64_t m, const Conv2dShape& s, const float* x, const float* dy,
                               float* dw, float* dbias) {
  const WinogradPass w2(m, s);
  float* dU = scratch(2, static_cast<size_t>(w2.T * s.C * s.O));  // [T, O, C]
  winograd::input_transform(w2.tl, s.C, x, w2.in);
  winograd::output_transform_backward(w2.tl, s.O, dy, w2.out);
  matmul(w2.out, w2.in, dU, w2.T, s.O, s.C, w2.P, /*trans_a=*/true);  // dU_t = dM_t^T V_t
  winograd::weight_transform_backward(m, s.O, s.C, dU, dw);
  if (dbias) sum_rows(dy, dbias, s.N * s.H * s.W, s.O);
}

}  // namespace

// ---------------------------------------------------------------- the algorithm setting

void set_conv2d_algorithm(Conv2dAlgorithm a) { g_algorithm.store(a); }
Conv2dAlgorithm conv2d_algorithm() { return g_algorithm.load(); }

Conv2dAlgorithm parse_conv2d_algorithm(const std::string& name) {
  if (name == "fast") return Conv2dAlgorithm::kFast;
  if (name == "direct") return Conv2dAlgorithm::kDirect;
  throw std::invalid_argument("unknown convolution algorithm '" + name + "' (expected fast or direct)");
}

bool conv2d_uses_winograd(const Conv2dShape& s) {
  return g_algorithm.load() == Conv2dAlgorithm::kFast && winograd_geometry(s) &&
         winograd_available();
}

// Of the layers that run Winograd F(4x4, 3x3), those below 56x56 run all three passes on
// hsanet's own NHWC kernels (winograd.h), which skip the nChw16c conversions and measured
// faster there (docs/winograd.md).
namespace {
bool own_winograd4x4(const Conv2dShape& s) {
  return conv2d_uses_winograd(s) && s.OH() * s.OW() < 56 * 56;
}
}  // namespace

bool conv2d_uses_im2col(const Conv2dShape& s) {
  return g_algorithm.load() == Conv2dAlgorithm::kFast && im2col_geometry(s);
}

bool conv2d_uses_winograd2x2(const Conv2dShape& s) {
  return g_algorithm.load() == Conv2dAlgorithm::kFast && winograd2x2_geometry(s) &&
         !conv2d_uses_winograd(s);
}

// ---------------------------------------------------------------- checks

void check_conv2d(const Conv2dShape& s, const char* op) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (" + describe(s) + ")");
  };
  if (s.N <= 0 || s.H <= 0 || s.W <= 0 || s.C <= 0) fail("input sizes must be positive");
  if (s.O <= 0 || s.KH <= 0 || s.KW <= 0) fail("weight sizes must be positive");
  if (s.stride_h <= 0 || s.stride_w <= 0) fail("stride must be positive");
  if (s.pad_h < 0 || s.pad_w < 0) fail("padding must be non-negative");
  if (s.dilation_h <= 0 || s.dilation_w <= 0) fail("dilation must be positive");
  if (s.groups <= 0) fail("groups must be positive");
  if (s.C % s.groups != 0)
    fail("input channels " + std::to_string(s.C) + " are not divisible by groups");
  if (s.O % s.groups != 0)
    fail("output channels " + std::to_string(s.O) + " are not divisible by groups");
  const int64_t ext_h = s.dilation_h * (s.KH - 1) + 1, ext_w = s.dilation_w * (s.KW - 1) + 1;
  if (ext_h > s.H + 2 * s.pad_h || ext_w > s.W + 2 * s.pad_w)
    fail("kernel extent " + std::to_string(ext_h) + "x" + std::to_string(ext_w) +
         " is larger than the padded input " + std::to_string(s.H + 2 * s.pad_h) + "x" +
         std::to_string(s.W + 2 * s.pad_w));
  // oneDNN indexes with int; keep every buffer addressable by it.
  const int64_t limit = int64_t{1} << 31;
  if (s.N * s.H * s.W * s.C >= limit || s.N * s.OH() * s.OW() * s.O >= limit)
    fail("tensor too large for oneDNN's 32-bit offsets");
}

// ---------------------------------------------------------------- the three passes

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool training, const WeightId& wid) {
  check_conv2d(s, "conv2d_forward");
  std::lock_guard<std::mutex> lock(g_mutex);
  const bool on_conv = pointwise_forward_on_conv(s);
  if (is_pointwise(s) && !on_conv) {
    run_gemm(get_gemm_plan(s, Direction::kForwardTraining, bias != nullptr), x, w, y, bias);
    return;
  }
  if (is_strided_pointwise(s) && !on_conv) {
    const Conv2dShape d = subsampled(s);
    float* xs = scratch(0, static_cast<size_t>(d.N * d.H * d.W * d.C));  // [N, OH, OW, C]
    gather_samples(s, x, xs);
    run_gemm(get_gemm_plan(d, Direction::kForwardTraining, bias != nullptr), xs, w, y, bias);
    return;
  }
  if (own_winograd4x4(s)) return winograd_forward(4, s, x, w, bias, y, wid);
  if (conv2d_uses_winograd2x2(s)) return winograd_forward(2, s, x, w, bias, y, wid);
  if (conv2d_uses_im2col(s)) {
    const Conv2dShape d = im2col_as_pointwise(s);
    float* cols = scratch(0, static_cast<size_t>(d.N * d.H * d.W * d.C));  // [P, 9C]
    im2col(s, x, cols);
    run_gemm(get_gemm_plan(d, Direction::kForwardTraining, bias != nullptr), cols, w, y, bias);
    return;
  }
  Plan& p = get_plan(s, training ? Direction::kForwardTraining : Direction::kForwardInference,
                     bias != nullptr);
  memory wm = weights_for(p, w, wid);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(y);
  auto& strm = onednn_stream();
  memory xm = x_side(p), ym = y_side(p);
  if (p.x_blocked) convert_x(p, xm, true);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
  if (bias) {
    p.bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, p.bias);
  }
  p.conv.execute(strm, args);
  if (p.y_blocked) {
    strm.wait();
    convert_y(p, ym, false);
  }
  strm.wait();
}

bool conv2d_backward_data_accumulates(const Conv2dShape& s) {
  return is_pointwise(s) || is_strided_pointwise(s);
}

void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                          const WeightId& wid, bool accumulate) {
  check_conv2d(s, "conv2d_backward_data");
  if (accumulate && !conv2d_backward_data_accumulates(s))
    throw std::invalid_argument("conv2d_backward_data: accumulating into dx needs a 1x1 "
                                "convolution without padding or groups (" + describe(s) + ")");
  std::lock_guard<std::mutex> lock(g_mutex);
  if (is_pointwise(s)) {
    const Direction dir = accumulate ? Direction::kBackwardDataAccumulate : Direction::kBackwardData;
    run_gemm(get_gemm_plan(s, dir, false), dy, w, dx, nullptr);
    return;
  }
  if (is_strided_pointwise(s)) {
    const Conv2dShape d = subsampled(s);
    float* dxs = scratch(0, static_cast<size_t>(d.N * d.H * d.W * d.C));  // [N, OH, OW, C]
    run_gemm(get_gemm_plan(d, Direction::kBackwardData, false), dy, w, dxs, nullptr);
    scatter_samples(s, dxs, dx, accumulate);
    return;
  }
  if (own_winograd4x4(s)) return winograd_backward_data(4, s, dy, w, dx, wid);
  if (conv2d_uses_winograd2x2(s)) return winograd_backward_data(2, s, dy, w, dx, wid);
  Plan& p = get_plan(s, Direction::kBackwardData, false);
  memory wm = weights_for(p, w, wid);
  p.dst.set_data_handle(const_cast<float*>(dy));
  p.src.set_data_handle(dx);
  auto& strm = onednn_stream();
  memory dxm = x_side(p), dym = y_side(p);
  if (p.y_blocked) {
    convert_y(p, dym, true);
    g_blocked_dy = BlockedDy{dy, dym.get_desc()};
  }
  p.conv.execute(strm, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
  if (p.x_blocked) {
    strm.wait();
    convert_x(p, dxm, false);
  }
  strm.wait();
}

void conv2d_backward_weights(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                             float* dbias, bool after_backward_data) {
  check_conv2d(s, "conv2d_backward_weights");
  std::lock_guard<std::mutex> lock(g_mutex);
  if ((is_pointwise(s) || is_strided_pointwise(s)) && !pointwise_weights_on_conv(s)) {
    const Conv2dShape d = subsampled(s);  // s itself when stride 1
    const float* xs = x;                  // [N, OH, OW, C]
    if (is_strided_pointwise(s)) {
      float* buf = scratch(0, static_cast<size_t>(d.N * d.H * d.W * d.C));
      gather_samples(s, x, buf);
      xs = buf;
    }
    run_gemm(get_gemm_plan(d, Direction::kBackwardWeights, false), dy, xs, dw, nullptr);
    // From y = ... + bias[o]: dbias[o] = the sum of dy over every position.
    if (dbias) sum_rows(dy, dbias, d.N * d.H * d.W, s.O);
    return;
  }
  if (conv2d_uses_winograd2x2(s)) return winograd_backward_weights(2, s, x, dy, dw, dbias);
  if (own_winograd4x4(s)) return winograd_backward_weights(4, s, x, dy, dw, dbias);
  if (conv2d_uses_im2col(s)) {
    const Conv2dShape d = im2col_as_pointwise(s);
    float* cols = scratch(0, static_cast<size_t>(d.N * d.H * d.W * d.C));  // [P, 9C]
    im2col(s, x, cols);
    run_gemm(get_gemm_plan(d, Direction::kBackwardWeights, false), dy, cols, dw, nullptr);
    if (dbias) sum_rows(dy, dbias, d.N * d.H * d.W, s.O);
    return;
  }
  Plan& p = get_plan(s, Direction::kBackwardWeights, dbias != nullptr);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(const_cast<float*>(dy));
  p.user_weights.set_data_handle(dw);
  // In OIHW already: oneDNN writes straight into dw. Otherwise into the plan's scratch buffer,
  // then one reorder to OIHW.
  memory dwm = p.weights_plain ? p.user_weights : p.scratch_weights;
  auto& strm = onednn_stream();
  // Checked before y_side hands slot 1 out (which clears the record).
  const bool dy_converted = after_backward_data && p.y_blocked && g_blocked_dy.dy == dy &&
                            g_blocked_dy.md == p.y_blocked.get_desc();
  memory xm = x_side(p), dym = y_side(p);
  if (p.x_blocked) convert_x(p, xm, true);
  if (p.y_blocked && !dy_converted) convert_y(p, dym, true);
  if (p.y_blocked) g_blocked_dy_reuses += dy_converted ? 1 : 0;
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
  if (dbias) {
    p.bias.set_data_handle(dbias);
    args.emplace(DNNL_ARG_DIFF_BIAS, p.bias);
  }
  p.conv.execute(strm, args);
  if (!p.weights_plain) {
    p.weight_reorder.execute(strm, p.scratch_weights, p.user_weights);
    g_gradient_reorders++;
  }
  strm.wait();
}

// ---------------------------------------------------------------- cache control

Conv2dCacheStats conv2d_cache_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  Conv2dCacheStats st;
  st.primitives_created = g_primitives_created.load();
  st.weight_reorders = g_weight_reorders.load();
  st.gradient_reorders = g_gradient_reorders.load();
  st.winograd_primitives = g_winograd_primitives.load();
  st.winograd2x2_calls = g_winograd2x2_calls.load();
  st.winograd4x4_calls = g_winograd4x4_calls.load();
  st.blocked_dy_reuses = g_blocked_dy_reuses.load();
  for (const auto& kv : g_packed) st.cached_weights += kv.second.owner.expired() ? 0 : 1;
  return st;
}

void conv2d_clear_caches() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_plans.clear();
  g_gemm_plans.clear();
  g_forward_pds.clear();
  g_packed.clear();
  for (ScratchBuffer& b : g_scratch) b = ScratchBuffer{};
  g_blocked_dy = BlockedDy{};
}

}  // namespace hsanet::ops
