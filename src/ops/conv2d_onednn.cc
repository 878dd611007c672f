#include "ops/conv2d_onednn.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "ops/conv2d_context.h"
#include "ops/onednn_engine.h"
#include "ops/parallel.h"

namespace hsanet::ops::detail {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// ---------------------------------------------------------------- memory descriptors

memory::desc activation_md(int64_t n, int64_t c, int64_t h, int64_t w, dt type = dt::f32) {
  // oneDNN's logical order is always N, C, H, W; `nhwc` says channels are innermost in memory.
  return memory::desc({n, c, h, w}, type, tag::nhwc);
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
memory::desc any_weight_md(const Conv2dShape& s, dt type = dt::f32) {
  return memory::desc(weight_dims(s), type, tag::any);
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

dnnl::algorithm algorithm_for(bool winograd) {
  return winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
}
// NHWC, or `any` for Winograd, which picks its blocked layout.
memory::desc primitive_activation_md(const Conv2dShape& s, bool winograd, int64_t c, int64_t h,
                                     int64_t w, dt type = dt::f32) {
  if (!winograd) return activation_md(s.N, c, h, w, type);
  return memory::desc({s.N, c, h, w}, type, tag::any);
}

// The data types of a plan: its input-side activation (x or dx), its output-side one (y or dy)
// and the weights it reads (forward, backward-data) or writes (backward-weights). A bf16 plan
// reads bf16 activations and weights and writes float32 (docs/precision.md):
//   forward           x bf16, w bf16        -> y f32 (bf16 with Numerics::kBF16Out)
//   backward-data     dy bf16, w bf16       -> dx f32
//   backward-weights  x bf16, dy bf16       -> dw f32
struct PlanTypes {
  dt x = dt::f32, y = dt::f32, w = dt::f32;
};
PlanTypes plan_types(Direction dir, Numerics numerics) {
  if (numerics == Numerics::kF32) return {};
  switch (dir) {
    case Direction::kBackwardData: return {dt::f32, dt::bf16, dt::bf16};
    case Direction::kBackwardWeights: return {dt::bf16, dt::bf16, dt::f32};
    default:  // the forwards
      return {dt::bf16, numerics == Numerics::kBF16Out ? dt::bf16 : dt::f32, dt::bf16};
  }
}

// ---------------------------------------------------------------- activation layouts

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
// scratch slots 0 (input side) and 1 (output side) in the primitive's layout.
memory x_side(Conv2dScratch& scratch, Plan& p) {
  if (!p.x_blocked) return p.src;
  p.x_blocked.set_data_handle(scratch.get(0, p.x_blocked.get_desc().get_size() / sizeof(float)));
  return p.x_blocked;
}
memory y_side(Conv2dScratch& scratch, Plan& p) {
  if (!p.y_blocked) return p.dst;
  p.y_blocked.set_data_handle(scratch.get(1, p.y_blocked.get_desc().get_size() / sizeof(float)));
  return p.y_blocked;
}

// ---------------------------------------------------------------- plans

const dnnl::convolution_forward::primitive_desc& forward_pd(OnednnPlans& cache,
                                                           const Conv2dShape& s, bool winograd,
                                                           bool training, bool with_bias,
                                                           Numerics numerics,
                                                           int64_t epilogue = 0) {
  const Direction dir = training ? Direction::kForwardTraining : Direction::kForwardInference;
  const PlanKey key = plan_key(s, dir, with_bias, winograd, numerics, epilogue);
  auto it = cache.forward_pds.find(key);
  if (it != cache.forward_pds.end()) return it->second;
  const Geometry g = geometry(s);
  const PlanTypes t = plan_types(dir, numerics);
  const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::convolution_forward::desc d(prop, algorithm_for(winograd),
                                    primitive_activation_md(s, winograd, s.C, s.H, s.W, t.x),
                                    any_weight_md(s, t.w), bias_md(s, with_bias),
                                    primitive_activation_md(s, winograd, s.O, s.OH(), s.OW(), t.y),
                                    g.strides, g.dilates, g.pad_l, g.pad_r);
  return cache.forward_pds
      .emplace(key, dnnl::convolution_forward::primitive_desc(d, epilogue_attr(epilogue),
                                                              onednn_engine()))
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

// A bf16 plan (plan_types) is only ever made with the direct algorithm. `epilogue`
// (epilogue_code): the forwards' post-ops.
Plan& get_plan(Conv2dContext& ctx, const Conv2dShape& s, bool winograd, Direction dir,
               bool with_bias, Numerics numerics = Numerics::kF32, int64_t epilogue = 0) {
  OnednnPlans& cache = ctx.onednn;
  const PlanKey key = plan_key(s, dir, with_bias, winograd, numerics, epilogue);
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return it->second;

  const auto& eng = onednn_engine();
  const Geometry g = geometry(s);
  const PlanTypes t = plan_types(dir, numerics);
  // The backward plans' hint: the training forward of the same operands, float32 output.
  const Numerics hint = numerics == Numerics::kF32 ? Numerics::kF32 : Numerics::kBF16;
  const memory::desc x_md = activation_md(s.N, s.C, s.H, s.W, t.x);
  const memory::desc y_md = activation_md(s.N, s.O, s.OH(), s.OW(), t.y);
  const memory::desc x_any = primitive_activation_md(s, winograd, s.C, s.H, s.W, t.x);
  const memory::desc y_any = primitive_activation_md(s, winograd, s.O, s.OH(), s.OW(), t.y);
  Plan p;
  switch (dir) {
    case Direction::kForwardTraining:
    case Direction::kForwardInference: {
      const auto& pd = forward_pd(cache, s, winograd, dir == Direction::kForwardTraining,
                                  with_bias, numerics, epilogue);
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
      dnnl::convolution_backward_data::desc d(algorithm_for(winograd), x_any,
                                              any_weight_md(s, t.w), y_any, g.strides, g.dilates,
                                              g.pad_l, g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(
          d, eng, forward_pd(cache, s, winograd, true, false, hint));
      p.conv = dnnl::convolution_backward_data(pd);
      p.src = memory(x_md, eng, DNNL_MEMORY_NONE);  // diff_src
      p.dst = memory(y_md, eng, DNNL_MEMORY_NONE);  // diff_dst
      set_weight_layout(p, s, pd.weights_desc(), /*to_user=*/false);
      set_activation_layout(p, pd.diff_src_desc(), pd.diff_dst_desc());
      break;
    }
    case Direction::kBackwardWeights: {
      dnnl::convolution_backward_weights::desc d(algorithm_for(winograd), x_any,
                                                 any_weight_md(s, t.w), bias_md(s, with_bias),
                                                 y_any, g.strides, g.dilates, g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(
          d, eng, forward_pd(cache, s, winograd, true, with_bias, hint));
      p.conv = dnnl::convolution_backward_weights(pd);
      p.src = memory(x_md, eng, DNNL_MEMORY_NONE);
      p.dst = memory(y_md, eng, DNNL_MEMORY_NONE);  // diff_dst
      if (with_bias) p.bias = memory(bias_md(s, true), eng, DNNL_MEMORY_NONE);  // diff_bias
      set_weight_layout(p, s, pd.diff_weights_desc(), /*to_user=*/true);
      set_activation_layout(p, pd.src_desc(), pd.diff_dst_desc());
      break;
    }
    case Direction::kBackwardDataAccumulate:  // a matmul-only direction (conv2d_gemm.cc)
      throw std::logic_error("conv2d: no convolution primitive accumulates into dx");
  }
  ctx.counters.primitives_created++;
  if (winograd) ctx.counters.winograd_primitives++;
  if (numerics != Numerics::kF32) ctx.counters.bf16_primitives++;
  return cache.plans.emplace(key, std::move(p)).first->second;
}

// Returns the weights in the plan's layout (and type): the caller's buffer itself when they agree,
// else a reordered copy, from the cache when this version of this weight was reordered before.
memory weights_for(Conv2dContext& ctx, Plan& p, const float* w, const WeightId& wid) {
  p.user_weights.set_data_handle(const_cast<float*>(w));
  if (p.weights_plain) return p.user_weights;
  auto reorder_into = [&](float* dst) {
    p.weights.set_data_handle(dst);
    p.weight_reorder.execute(onednn_stream(), p.user_weights, p.weights);
    ctx.counters.weight_reorders++;
  };
  float* copy = ctx.weights.copy(w, wid, p.prim_weight_md, reorder_into);
  if (!copy) {  // no identity: reorder into the plan's own scratch memory
    if (!p.scratch_weights) p.scratch_weights = memory(p.prim_weight_md, onednn_engine());
    copy = static_cast<float*>(p.scratch_weights.get_data_handle());
    reorder_into(copy);
  }
  p.weights.set_data_handle(copy);
  return p.weights;
}

}  // namespace

bool onednn_has_winograd() {
  // Asked once, by creating a small forward descriptor; the answer is the CPU's.
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

bool onednn_has_bf16() {
  static const bool available = [] {
    try {
      const memory::desc x({1, 16, 4, 4}, dt::bf16, tag::nhwc);
      const memory::desc w({16, 16, 1, 1}, dt::bf16, tag::any);
      const memory::desc y({1, 16, 4, 4}, dt::f32, tag::nhwc);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training,
                                        dnnl::algorithm::convolution_direct, x, w, y, {1, 1},
                                        {0, 0}, {0, 0});
      dnnl::convolution_forward::primitive_desc pd(d, onednn_engine());
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

// ---------------------------------------------------------------- the three passes

void onednn_forward(Conv2dContext& ctx, const Conv2dShape& s, bool winograd, const float* x,
                    const float* w, const float* bias, float* y, bool training,
                    const WeightId& wid) {
  Plan& p = get_plan(ctx, s, winograd,
                     training ? Direction::kForwardTraining : Direction::kForwardInference,
                     bias != nullptr);
  memory wm = weights_for(ctx, p, w, wid);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(y);
  auto& strm = onednn_stream();
  memory xm = x_side(ctx.scratch, p), ym = y_side(ctx.scratch, p);
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

Conv2dBlockedGradient onednn_backward_data(Conv2dContext& ctx, const Conv2dShape& s,
                                           bool winograd, const float* dy, const float* w,
                                           float* dx, const WeightId& wid) {
  Plan& p = get_plan(ctx, s, winograd, Direction::kBackwardData, false);
  memory wm = weights_for(ctx, p, w, wid);
  p.dst.set_data_handle(const_cast<float*>(dy));
  p.src.set_data_handle(dx);
  auto& strm = onednn_stream();
  memory dxm = x_side(ctx.scratch, p), dym = y_side(ctx.scratch, p);
  Conv2dBlockedGradient converted;
  if (p.y_blocked) {
    convert_y(p, dym, true);
    converted.blocked = std::make_shared<const BlockedGradient>(
        BlockedGradient{dy, dym.get_desc(), ctx.scratch.generation(1)});
  }
  p.conv.execute(strm, {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
  if (p.x_blocked) {
    strm.wait();
    convert_x(p, dxm, false);
  }
  strm.wait();
  return converted;
}

void onednn_backward_weights(Conv2dContext& ctx, const Conv2dShape& s, bool winograd,
                             const float* x, const float* dy, float* dw, float* dbias,
                             const Conv2dBlockedGradient& after) {
  Plan& p = get_plan(ctx, s, winograd, Direction::kBackwardWeights, dbias != nullptr);
  p.src.set_data_handle(const_cast<float*>(x));
  p.dst.set_data_handle(const_cast<float*>(dy));
  p.user_weights.set_data_handle(dw);
  // In OIHW already: oneDNN writes straight into dw. Otherwise into the plan's scratch buffer,
  // then one reorder to OIHW.
  memory dwm = p.weights_plain ? p.user_weights : p.scratch_weights;
  auto& strm = onednn_stream();
  // Checked before y_side hands slot 1 out again (which ends what `after` points at).
  const BlockedGradient* b = after.blocked.get();
  const bool dy_converted = b && p.y_blocked && b->dy == dy &&
                            b->md == p.y_blocked.get_desc() &&
                            b->generation == ctx.scratch.generation(1);
  memory xm = x_side(ctx.scratch, p), dym = y_side(ctx.scratch, p);
  if (p.x_blocked) convert_x(p, xm, true);
  if (p.y_blocked && !dy_converted) convert_y(p, dym, true);
  if (p.y_blocked) ctx.counters.blocked_dy_reuses += dy_converted ? 1 : 0;
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
  if (dbias) {
    p.bias.set_data_handle(dbias);
    args.emplace(DNNL_ARG_DIFF_BIAS, p.bias);
  }
  p.conv.execute(strm, args);
  if (!p.weights_plain) {
    p.weight_reorder.execute(strm, p.scratch_weights, p.user_weights);
    ctx.counters.gradient_reorders++;
  }
  strm.wait();
}

// ---------------------------------------------------------------- bf16 mixed precision

// The direct algorithm over the caller's NHWC buffers in place: no blocked activations, so no
// scratch. The weights come from the WeightCache in bf16 and the primitive's layout, made from
// the float32 master once per version.

void onednn_forward_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                         const float* w, const float* bias, void* y, bool y_bf16, bool training,
                         const WeightId& wid, int64_t epilogue) {
  Plan& p = get_plan(ctx, s, false,
                     training ? Direction::kForwardTraining : Direction::kForwardInference,
                     bias != nullptr, y_bf16 ? Numerics::kBF16Out : Numerics::kBF16, epilogue);
  memory wm = weights_for(ctx, p, w, wid);
  p.src.set_data_handle(const_cast<uint16_t*>(x));
  p.dst.set_data_handle(y);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, wm},
                                       {DNNL_ARG_DST, p.dst}};
  if (bias) {
    p.bias.set_data_handle(const_cast<float*>(bias));
    args.emplace(DNNL_ARG_BIAS, p.bias);
  }
  p.conv.execute(onednn_stream(), args);
  onednn_stream().wait();
}

void onednn_backward_data_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* dy,
                               const float* w, float* dx, const WeightId& wid) {
  Plan& p = get_plan(ctx, s, false, Direction::kBackwardData, false, Numerics::kBF16);
  memory wm = weights_for(ctx, p, w, wid);
  p.dst.set_data_handle(const_cast<uint16_t*>(dy));
  p.src.set_data_handle(dx);
  p.conv.execute(onednn_stream(),
                 {{DNNL_ARG_DIFF_DST, p.dst}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, p.src}});
  onednn_stream().wait();
}

void onednn_backward_weights_bf16(Conv2dContext& ctx, const Conv2dShape& s, const uint16_t* x,
                                  const uint16_t* dy, float* dw, float* dbias) {
  Plan& p = get_plan(ctx, s, false, Direction::kBackwardWeights, dbias != nullptr,
                     Numerics::kBF16);
  p.src.set_data_handle(const_cast<uint16_t*>(x));
  p.dst.set_data_handle(const_cast<uint16_t*>(dy));
  p.user_weights.set_data_handle(dw);
  memory dwm = p.weights_plain ? p.user_weights : p.scratch_weights;
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, p.src}, {DNNL_ARG_DIFF_DST, p.dst}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
  if (dbias) {
    p.bias.set_data_handle(dbias);
    args.emplace(DNNL_ARG_DIFF_BIAS, p.bias);
  }
  auto& strm = onednn_stream();
  p.conv.execute(strm, args);
  if (!p.weights_plain) {
    p.weight_reorder.execute(strm, p.scratch_weights, p.user_weights);
    ctx.counters.gradient_reorders++;
  }
  strm.wait();
}

}  // namespace hsanet::ops::detail
