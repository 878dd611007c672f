#include "autograd/functions_vision.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "base/profiler.h"
#include "ops/batchnorm.h"
#include "ops/bf16.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/pool.h"

namespace hsanet {

namespace {

void require_nhwc(const Tensor& x, const char* op) {
  if (!x.defined()) throw std::invalid_argument(std::string(op) + ": input is undefined");
  if (x.ndim() != 4)
    throw std::invalid_argument(std::string(op) + ": input must be NHWC [N, H, W, C], got " +
                                shape_str(x.shape()));
}

void require_vector(const Tensor& t, int64_t C, const char* op, const char* what) {
  if (t.defined() && t.shape() != Shape{C})
    throw std::invalid_argument(std::string(op) + ": " + what + " must have shape [" +
                                std::to_string(C) + "], got " + shape_str(t.shape()));
}

}  // namespace

// ---------------------------------------------------------------- convolution

namespace {

// A profiler line per geometry and pass, when the active profiler asks for them:
// "conv2d 64->256 1x1/1 56x56 weights". Empty when it does not (no region is opened then).
std::string conv_profile_name(const ops::Conv2dShape& s, const char* pass) {
  const Profiler* prof = Profiler::active();
  if (!prof || !prof->by_shape()) return {};
  auto str = [](int64_t v) { return std::to_string(v); };
  return "conv2d " + str(s.C) + "->" + str(s.O) + " " + str(s.KH) + "x" + str(s.KW) + "/" +
         str(s.stride_h) + " " + str(s.H) + "x" + str(s.W) + (*pass ? " " : "") + pass;
}

// Opens a profiler region for one pass of one convolution, if the profiler wants shapes.
struct ConvPassRegion {
  std::optional<ProfileRegion> region;
  ConvPassRegion(const ops::Conv2dShape& s, const char* phase, const char* pass) {
    const std::string name = conv_profile_name(s, pass);
    if (!name.empty()) region.emplace(phase, name);
  }
};

// What a convolution's backward keeps of its weight: the weight itself (for dx; undefined when
// x needs no gradient), and the identity and version the forward saw -- the key of its
// reordered copies, and the proof that no in-place update came in between.
struct SavedWeight {
  Tensor w;
  std::weak_ptr<const void> owner;
  uint64_t version = 0;
  const TensorImpl* impl = nullptr;

  SavedWeight(const Tensor& weight, bool keep)
      : w(keep ? weight.detach() : Tensor()), owner(weight.impl_ptr()), version(weight.version()),
        impl(weight.impl()) {}
  ops::WeightId id() const { return {owner, version}; }
  // The forward read this version of the weight; backward must too.
  void check_unchanged() const {
    if (!owner.expired() && impl->version != version)
      throw std::logic_error("conv2d backward: the weight was modified in place after the forward "
                             "pass (version " + std::to_string(version) + " -> " +
                             std::to_string(impl->version) + ")");
  }
};

// Where backward-data writes dx: straight into the input's partial gradient when there is one
// and the kernel can add into it (node.h: accumulation_target; `accumulate` says so), else a
// new tensor.
Tensor input_gradient_buffer(const ops::Conv2dShape& s, bool& accumulate) {
  Tensor into = accumulation_target(0);
  accumulate = into.defined() && ops::conv2d_backward_data_accumulates(s);
  return accumulate ? into : Tensor::empty({s.N, s.H, s.W, s.C});
}

// A bf16 copy of t (DType::kBF16, t's shape): what a bf16 convolution reads when its input or its
// incoming gradient is float32.
Tensor bf16_copy(const Tensor& t, const char* phase) {
  const ProfileRegion region(phase, "conv2d to bf16");
  Tensor b = Tensor::empty_bf16(t.shape());
  ops::float_to_bf16(t.data(), b.bf16_data(), t.numel());
  return b;
}

// conv2d in bf16 mixed precision; the checks are done. Saves the bf16 copy of x (half of x's
// bytes) instead of x -- x itself when it is bf16 already -- and converts each incoming
// gradient once for both backward passes (none when it comes in bf16, from a batch norm that
// read this output in bf16). y: bf16 with bf16_output, else float32.
Tensor conv2d_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias,
                   const ops::Conv2dShape& s, bool record_it, bool bf16_output) {
  const ops::WeightId wid{weight.impl_ptr(), weight.version()};
  const Tensor xb = x.is_bf16() ? x : bf16_copy(x, "forward");  // [N, H, W, C] in bf16
  const Shape y_shape{s.N, s.OH(), s.OW(), s.O};
  Tensor y = bf16_output ? Tensor::empty_bf16(y_shape) : Tensor::empty(y_shape);
  {
    const ConvPassRegion region(s, "forward", "");
    const uint16_t* xp = xb.bf16_data();
    const float* bp = bias.defined() ? bias.data() : nullptr;
    if (bf16_output)
      ops::conv2d_forward_bf16(s, xp, weight.data(), bp, y.bf16_data(), record_it, wid);
    else
      ops::conv2d_forward_bf16(s, xp, weight.data(), bp, y.data(), record_it, wid);
  }
  if (!record_it) return y;
  const Tensor xs = weight.requires_grad() ? xb : Tensor();
  const SavedWeight sw(weight, x.requires_grad());
  return record("conv2d", y, {x, weight, bias},
                [s, xs, sw](const Tensor& gy, const NeedsGrad& needs) {
                  std::vector<Tensor> grads(3);
                  const Tensor gyb = gy.is_bf16()              ? gy
                                     : (needs[0] || needs[1]) ? bf16_copy(gy, "backward")
                                                              : Tensor();
                  if (needs[0]) {
                    sw.check_unchanged();
                    const ConvPassRegion region(s, "backward", "data");
                    bool acc = false;
                    grads[0] = input_gradient_buffer(s, acc);
                    ops::conv2d_backward_data_bf16(s, gyb.bf16_data(), sw.w.data(),
                                                   grads[0].data(), sw.id(), acc);
                  }
                  if (needs[2]) grads[2] = Tensor::empty({s.O});
                  if (needs[1]) {
                    grads[1] = Tensor::empty({s.O, s.C / s.groups, s.KH, s.KW});
                    const ConvPassRegion region(s, "backward", "weights");
                    ops::conv2d_backward_weights_bf16(s, xs.bf16_data(), gyb.bf16_data(),
                                                      grads[1].data(),
                                                      needs[2] ? grads[2].data() : nullptr);
                  } else if (needs[2]) {  // bias alone: the sum of gy over every position
                    const Tensor g = gy.is_bf16() ? float32(gy) : gy;
                    ops::sum_rows(g.data(), grads[2].data(), s.N * s.OH() * s.OW(), s.O);
                  }
                  return grads;
                });
}

}  // namespace

Tensor float32(const Tensor& x) {
  if (!x.is_bf16()) return x;
  Tensor y = Tensor::empty(x.shape());
  ops::bf16_to_float(x.bf16_data(), y.data(), x.numel());
  if (!needs_record({&x})) return y;
  // Widening is exact and its derivative 1: the gradient passes through as it is (float32; a
  // bf16 convolution's backward takes either).
  return record("float32", y, {x}, [](const Tensor& gy, const NeedsGrad&) {
    return std::vector<Tensor>{gy};
  });
}

namespace {

// The geometry of conv2d(x, weight, bias, a), checked: throws std::invalid_argument naming `op`
// and the shapes when they do not fit together.
ops::Conv2dShape checked_conv2d_shape(const char* op, const Tensor& x, const Tensor& weight,
                                      const Tensor& bias, const Conv2dArgs& a) {
  require_nhwc(x, op);
  if (!weight.defined() || weight.ndim() != 4)
    throw std::invalid_argument(std::string(op) + ": weight must be OIHW [O, C/groups, KH, KW], got " +
                                (weight.defined() ? shape_str(weight.shape()) : "undefined"));
  ops::Conv2dShape s;
  s.N = x.size(0), s.H = x.size(1), s.W = x.size(2), s.C = x.size(3);
  s.O = weight.size(0), s.KH = weight.size(2), s.KW = weight.size(3);
  s.stride_h = a.stride_h, s.stride_w = a.stride_w, s.pad_h = a.pad_h, s.pad_w = a.pad_w;
  s.dilation_h = a.dilation_h, s.dilation_w = a.dilation_w, s.groups = a.groups;
  if (a.groups <= 0 || weight.size(1) * a.groups != s.C)
    throw std::invalid_argument(std::string(op) + ": input " + shape_str(x.shape()) + " has " +
                                std::to_string(s.C) + " channels but weight " +
                                shape_str(weight.shape()) + " with groups " +
                                std::to_string(a.groups) + " expects " +
                                std::to_string(weight.size(1) * a.groups));
  require_vector(bias, s.O, op, "bias");
  ops::check_conv2d(s, op);
  return s;
}

}  // namespace

Tensor conv2d_inference_bf16(const Tensor& x, const Tensor& weight, const Tensor& bias,
                             const Conv2dArgs& a, Tensor residual, bool relu) {
  const char* op = "conv2d_inference_bf16";
  const ops::Conv2dShape s = checked_conv2d_shape(op, x, weight, bias, a);
  if (needs_record({&x, &weight, &bias, &residual}))
    throw std::logic_error(std::string(op) + ": an inference-only convolution was given inputs "
                           "that need a gradient (use it under NoGradGuard)");
  const Shape y_shape{s.N, s.OH(), s.OW(), s.O};
  if (residual.defined() && residual.shape() != y_shape)
    throw std::invalid_argument(std::string(op) + ": residual " + shape_str(residual.shape()) +
                                " does not match the output " + shape_str(y_shape));
  // y starts as the residual: in its own buffer when nothing else holds it, else in a copy.
  const bool add = residual.defined();
  Tensor y;
  if (residual.defined() && residual.is_bf16() && residual.sole_owner()) {
    y = std::move(residual);
  } else {
    y = Tensor::empty_bf16(y_shape);  // [N, OH, OW, O]
    if (residual.is_bf16())
      std::copy_n(residual.bf16_data(), residual.numel(), y.bf16_data());
    else if (residual.defined())
      ops::float_to_bf16(residual.data(), y.bf16_data(), residual.numel());
  }
  const Tensor xb = x.is_bf16() ? x : bf16_copy(x, "forward");  // [N, H, W, C] in bf16
  const ConvPassRegion region(s, "forward", "");
  ops::conv2d_forward_bf16(s, xb.bf16_data(), weight.data(), bias.defined() ? bias.data() : nullptr,
                           y.bf16_data(), ops::Conv2dEpilogue{add, relu},
                           {weight.impl_ptr(), weight.version()});
  return y;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dArgs& a) {
  const ops::Conv2dShape s = checked_conv2d_shape("conv2d", x, weight, bias, a);

  const bool record_it = needs_record({&x, &weight, &bias});
  if (a.precision == ops::Precision::kBF16)
    return conv2d_bf16(x, weight, bias, s, record_it, a.bf16_output);
  if (x.is_bf16())  // a float32 convolution of a bf16 tensor: widened first
    return conv2d(float32(x), weight, bias, a);
  // The weight's identity for the cache of its reordered copy: the TensorImpl (which carries
  // the version) of the tensor passed in, normally the parameter itself.
  const ops::WeightId wid{weight.impl_ptr(), weight.version()};
  Tensor y = Tensor::empty({s.N, s.OH(), s.OW(), s.O});
  {
    const ConvPassRegion region(s, "forward", "");
    ops::conv2d_forward(s, x.data(), weight.data(), bias.defined() ? bias.data() : nullptr,
                        y.data(), /*training=*/record_it, wid, a.algorithm);
  }
  if (!record_it) return y;

  // Save only what backward will read: x for the weight gradient, the weight for the input's.
  const Tensor xs = weight.requires_grad() ? x.detach() : Tensor();
  const SavedWeight sw(weight, x.requires_grad());
  return record("conv2d", y, {x, weight, bias},
                [s, xs, sw, alg = a.algorithm](const Tensor& gy, const NeedsGrad& needs) {
                  std::vector<Tensor> grads(3);
                  // Backward-data's blocked conversion of gy, for the backward-weights below.
                  ops::Conv2dBlockedGradient blocked_gy;
                  if (needs[0]) {
                    sw.check_unchanged();
                    const ConvPassRegion region(s, "backward", "data");
                    bool acc = false;
                    grads[0] = input_gradient_buffer(s, acc);
                    blocked_gy = ops::conv2d_backward_data(s, gy.data(), sw.w.data(),
                                                           grads[0].data(), sw.id(), acc, alg);
                  }
                  if (needs[2]) grads[2] = Tensor::empty({s.O});
                  if (needs[1]) {
                    grads[1] = Tensor::empty({s.O, s.C / s.groups, s.KH, s.KW});
                    const ConvPassRegion region(s, "backward", "weights");
                    ops::conv2d_backward_weights(s, xs.data(), gy.data(), grads[1].data(),
                                                 needs[2] ? grads[2].data() : nullptr,
                                                 blocked_gy, alg);
                  } else if (needs[2]) {  // bias alone: the sum of gy over every position
                    ops::sum_rows(gy.data(), grads[2].data(), s.N * s.OH() * s.OW(), s.O);
                  }
                  return grads;
                });
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
              int64_t padding, int64_t dilation, int64_t groups, ops::Precision precision,
              bool bf16_output, ops::Conv2dAlgorithm algorithm) {
  Conv2dArgs a;
  a.stride_h = a.stride_w = stride;
  a.pad_h = a.pad_w = padding;
  a.dilation_h = a.dilation_w = dilation;
  a.groups = groups;
  a.precision = precision;
  a.bf16_output = bf16_output;
  a.algorithm = algorithm;
  return conv2d(x, weight, bias, a);
}

// ---------------------------------------------------------------- pooling

namespace {

ops::Pool2dShape pool_shape(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                            bool ceil_mode, bool count_include_pad, const char* op) {
  require_nhwc(x, op);
  ops::Pool2dShape s;
  s.N = x.size(0), s.H = x.size(1), s.W = x.size(2), s.C = x.size(3);
  s.KH = s.KW = kernel;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = padding;
  s.ceil_mode = ceil_mode;
  s.count_include_pad = count_include_pad;
  ops::check_pool2d(s, op);
  return s;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                  bool ceil_mode) {
  const ops::Pool2dShape s = pool_shape(x, kernel, stride, padding, ceil_mode, true, "max_pool2d");
  Tensor y = Tensor::empty({s.N, s.OH(), s.OW(), s.C});
  if (!needs_record({&x})) {
    ops::max_pool2d_forward(s, x.data(), y.data(), nullptr);
    return y;
  }
  // Backward routes each gradient to its window's argmax: saved as int32 positions (as many
  // as outputs), cheaper than keeping x and y to recompute them.
  auto argmax = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(y.numel()));
  ops::max_pool2d_forward(s, x.data(), y.data(), argmax->data());
  return record("max_pool2d", y, {x}, [s, argmax](const Tensor& gy, const NeedsGrad&) {
    Tensor gx = Tensor::empty({s.N, s.H, s.W, s.C});
    ops::max_pool2d_backward(s, gy.data(), argmax->data(), gx.data());
    return std::vector<Tensor>{gx};
  });
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding,
                  bool ceil_mode, bool count_include_pad) {
  const ops::Pool2dShape s =
      pool_shape(x, kernel, stride, padding, ceil_mode, count_include_pad, "avg_pool2d");
  Tensor y = Tensor::empty({s.N, s.OH(), s.OW(), s.C});
  ops::avg_pool2d_forward(s, x.data(), y.data());
  return record("avg_pool2d", y, {x}, [s](const Tensor& gy, const NeedsGrad&) {
    Tensor gx = Tensor::empty({s.N, s.H, s.W, s.C});
    ops::avg_pool2d_backward(s, gy.data(), gx.data());
    return std::vector<Tensor>{gx};
  });
}

// ---------------------------------------------------------------- batch norm

void check_batch_norm_args(const char* op, const Tensor& x, const Tensor& residual,
                           const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training) {
  if (!x.defined() || x.ndim() < 2)
    throw std::invalid_argument(std::string(op) + ": input must be [..., C] (NHWC), got " +
                                (x.defined() ? shape_str(x.shape()) : "undefined"));
  const int64_t C = x.size(-1), rows = x.numel() / C;
  require_vector(weight, C, op, "weight");
  require_vector(bias, C, op, "bias");
  require_vector(running_mean, C, op, "running_mean");
  require_vector(running_var, C, op, "running_var");
  if (residual.defined() && residual.shape() != x.shape())
    throw std::invalid_argument(std::string(op) + ": residual " + shape_str(residual.shape()) +
                                " must have the input's shape " + shape_str(x.shape()));
  if (!training && (!running_mean.defined() || !running_var.defined()))
    throw std::invalid_argument(std::string(op) + ": evaluation mode needs running statistics");
  if (training && rows < 2)
    throw std::invalid_argument(std::string(op) + ": training needs more than one value per "
                                "channel, got input " + shape_str(x.shape()));
}

namespace {

// The three batch-norm entry points differ only in the fused ReLU and residual.
Tensor batch_norm_impl(const char* op, const Tensor& x, const Tensor& residual,
                       const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, float momentum, float eps,
                       bool relu, bool bf16_output = false) {
  check_batch_norm_args(op, x, residual, weight, bias, running_mean, running_var, training);
  const int64_t C = x.size(-1), rows = x.numel() / C;
  // Undefined affine parameters act as gamma = 1, beta = 0.
  const Tensor gamma = weight.defined() ? weight : Tensor::ones({C});
  const Tensor beta = bias.defined() ? bias : Tensor::zeros({C});
  ops::BatchNormOptions opt;
  opt.eps = eps;
  opt.momentum = momentum;
  opt.relu = relu;
  // x in bf16 (a bf16 convolution's output): the kernels widen it as they read, and the
  // backward writes x's gradient in bf16, for that convolution's backward (docs/precision.md).
  const bool x_bf16 = x.is_bf16();
  // y in bf16 too where asked and x is bf16, unless the backward would have to read y (the
  // ReLU's mask in evaluation mode, see below), which it reads in float32.
  const bool recording = needs_record({&x, &residual, &weight, &bias});
  const bool y_bf16 = bf16_output && x_bf16 && !(relu && !training && recording);

  Tensor y = y_bf16 ? Tensor::empty_bf16(x.shape()) : Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});
  const float* res = residual.defined() ? residual.data() : nullptr;
  if (training) {
    Tensor rm = running_mean, rv = running_var;  // updated in place (shared storage)
    float* rmp = rm.defined() ? rm.data() : nullptr;
    float* rvp = rv.defined() ? rv.data() : nullptr;
    if (y_bf16)
      ops::batchnorm_forward_train(x.bf16_data(), gamma.data(), beta.data(), res, y.bf16_data(),
                                   mean.data(), invstd.data(), rmp, rvp, rows, C, opt);
    else if (x_bf16)
      ops::batchnorm_forward_train(x.bf16_data(), gamma.data(), beta.data(), res, y.data(),
                                   mean.data(), invstd.data(), rmp, rvp, rows, C, opt);
    else
      ops::batchnorm_forward_train(x.data(), gamma.data(), beta.data(), res, y.data(),
                                   mean.data(), invstd.data(), rmp, rvp, rows, C, opt);
    if (rm.defined()) rm.bump_version();
    if (rv.defined()) rv.bump_version();
  } else if (y_bf16) {
    ops::batchnorm_forward_eval(x.bf16_data(), gamma.data(), beta.data(), res,
                                running_mean.data(), running_var.data(), y.bf16_data(), rows, C,
                                opt);
  } else if (x_bf16) {
    ops::batchnorm_forward_eval(x.bf16_data(), gamma.data(), beta.data(), res,
                                running_mean.data(), running_var.data(), y.data(), rows, C, opt);
  } else {
    ops::batchnorm_forward_eval(x.data(), gamma.data(), beta.data(), res, running_mean.data(),
                                running_var.data(), y.data(), rows, C, opt);
  }
  if (!recording) return y;
  if (!training) {  // backward normalises with the statistics used here, frozen now
    mean.copy_from(running_mean);
    const float* rv = running_var.data();
    for (int64_t c = 0; c < C; ++c) invstd.data()[c] = 1.f / std::sqrt(rv[c] + eps);
  }

  // Saved: x, gamma, beta and the statistics (x - mean is recomputed, see docs/batchnorm.md);
  // the output only when the fused ReLU's mask cannot be recomputed from x bit for bit: after a
  // residual add, or with the running statistics (which the forward rounds differently).
  const bool fused_add = residual.defined();
  const Tensor xs = x.detach(), gs = gamma.detach(), bs = beta.detach();
  const Tensor ys = relu && (fused_add || !training) ? y.detach() : Tensor();
  return record(
      op, y, {x, weight, bias, residual},
      [xs, gs, bs, ys, mean, invstd, rows, C, training, opt, fused_add](const Tensor& gy,
                                                                      const NeedsGrad& needs) {
        std::vector<Tensor> g(4);
        if (needs[0]) g[0] = xs.is_bf16() ? Tensor::empty_bf16(xs.shape()) : Tensor::empty(xs.shape());
        if (needs[1]) g[1] = Tensor::empty({C});
        if (needs[2]) g[2] = Tensor::empty({C});
        if (needs[3] && fused_add) g[3] = Tensor::empty(xs.shape());
        auto ptr = [](Tensor& t) { return t.defined() ? t.data() : nullptr; };
        const float* yp = ys.defined() ? ys.data() : nullptr;
        if (xs.is_bf16())
          ops::batchnorm_backward(xs.bf16_data(), yp, gy.data(), mean.data(), invstd.data(),
                                  gs.data(), bs.data(), g[0].defined() ? g[0].bf16_data() : nullptr,
                                  ptr(g[3]), ptr(g[1]), ptr(g[2]), rows, C, training, opt);
        else
          ops::batchnorm_backward(xs.data(), yp, gy.data(), mean.data(), invstd.data(), gs.data(),
                                  bs.data(), ptr(g[0]), ptr(g[3]), ptr(g[1]), ptr(g[2]), rows, C,
                                  training, opt);
        return g;
      });
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    float momentum, float eps) {
  return batch_norm_impl("batch_norm2d", x, Tensor(), weight, bias, running_mean, running_var,
                         training, momentum, eps, false);
}

Tensor batch_norm2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         float momentum, float eps, bool bf16_output) {
  return batch_norm_impl("batch_norm2d_relu", x, Tensor(), weight, bias, running_mean,
                         running_var, training, momentum, eps, true, bf16_output);
}

Tensor batch_norm2d_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight,
                             const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, float momentum,
                             float eps) {
  if (!residual.defined())
    throw std::invalid_argument("batch_norm2d_add_relu: residual is undefined");
  return batch_norm_impl("batch_norm2d_add_relu", x, residual, weight, bias, running_mean,
                         running_var, training, momentum, eps, true);
}

}  // namespace hsanet
