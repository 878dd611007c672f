#include "autograd/functions_basic.h"

#include <stdexcept>
#include <string>

#include "autograd/node.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/reduce.h"

namespace hsanet {

namespace {

enum class Bcast { same, channel };

// Checks a and b for an element-wise op; b may be a [C] vector over a's last dimension.
Bcast broadcast_kind(const char* op, const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) throw std::invalid_argument(std::string(op) + ": undefined input");
  if (a.shape() == b.shape()) return Bcast::same;
  if (b.ndim() == 1 && a.ndim() >= 1 && b.size(0) == a.size(-1)) return Bcast::channel;
  throw std::invalid_argument(std::string(op) + ": shapes " + shape_str(a.shape()) + " and " +
                              shape_str(b.shape()) +
                              " do not match (b must equal a's shape or be [a.size(-1)])");
}

// The "sum to shape" that undoes a broadcast: a gradient of a's shape reduced to [C].
Tensor sum_to_channel(const Tensor& g, int64_t C) {
  Tensor out = Tensor::empty({C});
  ops::sum_rows(g.data(), out.data(), g.numel() / C, C);
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  const Bcast kind = broadcast_kind("add", a, b);
  Tensor y = Tensor::empty(a.shape());
  const int64_t C = b.numel();
  if (kind == Bcast::same)
    ops::add(a.data(), b.data(), y.data(), y.numel());
  else
    ops::add_channel(a.data(), b.data(), y.data(), y.numel() / C, C);
  // y = a + b  =>  da = dy,  db = dy (summed over the broadcast rows)
  return record("add", y, {a, b}, [kind, C](const Tensor& gy, const NeedsGrad& needs) {
    Tensor ga = needs[0] ? gy : Tensor();
    Tensor gb = !needs[1] ? Tensor() : kind == Bcast::same ? gy : sum_to_channel(gy, C);
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  const Bcast kind = broadcast_kind("sub", a, b);
  Tensor y = Tensor::empty(a.shape());
  const int64_t C = b.numel();
  if (kind == Bcast::same) {
    ops::sub(a.data(), b.data(), y.data(), y.numel());
  } else {
    Tensor neg = Tensor::empty(b.shape());
    ops::scale(b.data(), -1.f, neg.data(), C);
    ops::add_channel(a.data(), neg.data(), y.data(), y.numel() / C, C);
  }
  // y = a - b  =>  da = dy,  db = -dy
  return record("sub", y, {a, b}, [kind, C](const Tensor& gy, const NeedsGrad& needs) {
    Tensor ga = needs[0] ? gy : Tensor();
    Tensor gb;
    if (needs[1]) {
      gb = kind == Bcast::same ? Tensor::empty(gy.shape()) : sum_to_channel(gy, C);
      ops::scale(kind == Bcast::same ? gy.data() : gb.data(), -1.f, gb.data(), gb.numel());
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  const Bcast kind = broadcast_kind("mul", a, b);
  Tensor y = Tensor::empty(a.shape());
  const int64_t C = b.numel();
  if (kind == Bcast::same)
    ops::mul(a.data(), b.data(), y.data(), y.numel());
  else
    ops::mul_channel(a.data(), b.data(), y.data(), y.numel() / C, C);
  Tensor as = a.detach(), bs = b.detach();
  // y = a * b  =>  da = dy * b,  db = dy * a (summed over the broadcast rows)
  return record("mul", y, {a, b}, [kind, C, as, bs](const Tensor& gy, const NeedsGrad& needs) {
    Tensor ga, gb;
    if (needs[0]) {
      ga = Tensor::empty(gy.shape());
      if (kind == Bcast::same)
        ops::mul(gy.data(), bs.data(), ga.data(), ga.numel());
      else
        ops::mul_channel(gy.data(), bs.data(), ga.data(), ga.numel() / C, C);
    }
    if (needs[1]) {
      if (kind == Bcast::same) {
        gb = Tensor::empty(gy.shape());
        ops::mul(gy.data(), as.data(), gb.data(), gb.numel());
      } else {
        gb = Tensor::empty({C});
        ops::sum_rows_product(gy.data(), as.data(), gb.data(), gy.numel() / C, C);
      }
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor scale(const Tensor& x, float alpha) {
  Tensor y = Tensor::empty(x.shape());
  ops::scale(x.data(), alpha, y.data(), y.numel());
  // y = alpha * x  =>  dx = alpha * dy
  return record("scale", y, {x}, [alpha](const Tensor& gy, const NeedsGrad&) {
    Tensor gx = Tensor::empty(gy.shape());
    ops::scale(gy.data(), alpha, gx.data(), gx.numel());
    return std::vector<Tensor>{gx};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  ops::relu_forward(x.data(), y.data(), x.numel());
  Tensor ys = y.detach();  // backward needs only the output's sign
  // y = max(x, 0)  =>  dx = dy where y > 0
  return record("relu", y, {x}, [ys](const Tensor& gy, const NeedsGrad&) {
    Tensor gx = Tensor::empty(ys.shape());
    ops::relu_backward(ys.data(), gy.data(), gx.data(), ys.numel());
    return std::vector<Tensor>{gx};
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  const bool batched = a.ndim() == 3;
  if (!((a.ndim() == 2 && b.ndim() == 2) || (a.ndim() == 3 && b.ndim() == 3)) ||
      a.size(-1) != b.size(-2) || (batched && a.size(0) != b.size(0)))
    throw std::invalid_argument("matmul: cannot multiply " + shape_str(a.shape()) + " by " +
                                shape_str(b.shape()) +
                                " (need [M, K] x [K, N] or [B, M, K] x [B, K, N])");
  const int64_t B = batched ? a.size(0) : 1, M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Tensor y = Tensor::empty(batched ? Shape{B, M, N} : Shape{M, N});
  ops::matmul(a.data(), b.data(), y.data(), B, M, N, K);
  Tensor as = a.detach(), bs = b.detach();
  // Y = A B  =>  dA = dY B^T  [M,N]x[N,K],   dB = A^T dY  [K,M]x[M,N]
  return record("matmul", y, {a, b}, [=](const Tensor& gy, const NeedsGrad& needs) {
    Tensor ga, gb;
    if (needs[0]) {
      ga = Tensor::empty(as.shape());
      ops::matmul(gy.data(), bs.data(), ga.data(), B, M, K, N, false, true);
    }
    if (needs[1]) {
      gb = Tensor::empty(bs.shape());
      ops::matmul(as.data(), gy.data(), gb.data(), B, K, N, M, true, false);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (x.ndim() != 2 || weight.ndim() != 2 || x.size(1) != weight.size(1))
    throw std::invalid_argument("linear: input " + shape_str(x.shape()) + " and weight " +
                                shape_str(weight.shape()) + " do not fit ([N, in] and [out, in])");
  const int64_t N = x.size(0), in = x.size(1), out = weight.size(0);
  if (bias.defined() && bias.shape() != Shape{out})
    throw std::invalid_argument("linear: bias " + shape_str(bias.shape()) + " should be [" +
                                std::to_string(out) + "]");
  Tensor y = Tensor::empty({N, out});
  ops::matmul(x.data(), weight.data(), y.data(), 1, N, out, in, false, true);  // x W^T
  if (bias.defined()) ops::add_channel(y.data(), bias.data(), y.data(), N, out);
  Tensor xs = x.detach(), ws = weight.detach();
  const bool has_bias = bias.defined();
  std::vector<Tensor> inputs{x, weight};
  if (has_bias) inputs.push_back(bias);
  // y = x W^T + b  =>  dx = dy W [N,out]x[out,in],  dW = dy^T x [out,N]x[N,in],  db = sum_n dy
  return record("linear", y, inputs, [=](const Tensor& gy, const NeedsGrad& needs) {
    std::vector<Tensor> g(needs.size());
    if (needs[0]) {
      g[0] = Tensor::empty({N, in});
      ops::matmul(gy.data(), ws.data(), g[0].data(), 1, N, in, out);
    }
    if (needs[1]) {
      g[1] = Tensor::empty({out, in});
      ops::matmul(gy.data(), xs.data(), g[1].data(), 1, out, in, N, true, false);
    }
    if (has_bias && needs[2]) g[2] = sum_to_channel(gy, out);
    return g;
  });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  const Shape in_shape = x.shape();
  return record("reshape", y, {x}, [in_shape](const Tensor& gy, const NeedsGrad&) {
    return std::vector<Tensor>{gy.view(in_shape)};
  });
}

namespace {

// Copies x into y with dimensions d0 and d1 swapped. Treats the shape as
// [outer, n0, middle, n1, inner] around the two swapped dimensions.
void swap_dims(const Tensor& x, Tensor& y, int d0, int d1) {
  const Shape& s = x.shape();
  int64_t outer = 1, middle = 1, inner = 1;
  for (int i = 0; i < d0; ++i) outer *= s[i];
  for (int i = d0 + 1; i < d1; ++i) middle *= s[i];
  for (int i = d1 + 1; i < x.ndim(); ++i) inner *= s[i];
  const int64_t n0 = s[d0], n1 = s[d1];
  const float* src = x.data();
  float* dst = y.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i0 = 0; i0 < n0; ++i0)
      for (int64_t m = 0; m < middle; ++m)
        for (int64_t i1 = 0; i1 < n1; ++i1) {
          const float* from = src + ((((o * n0 + i0) * middle + m) * n1 + i1) * inner);
          float* to = dst + ((((o * n1 + i1) * middle + m) * n0 + i0) * inner);
          for (int64_t k = 0; k < inner; ++k) to[k] = from[k];
        }
}

}  // namespace

Tensor transpose(const Tensor& x, int dim0, int dim1) {
  const int n = x.ndim();
  int d0 = dim0 < 0 ? dim0 + n : dim0, d1 = dim1 < 0 ? dim1 + n : dim1;
  if (d0 < 0 || d0 >= n || d1 < 0 || d1 >= n)
    throw std::invalid_argument("transpose: dimensions " + std::to_string(dim0) + ", " +
                                std::to_string(dim1) + " out of range for " + shape_str(x.shape()));
  if (d0 > d1) std::swap(d0, d1);
  Shape out_shape = x.shape();
  std::swap(out_shape[d0], out_shape[d1]);
  Tensor y = Tensor::empty(out_shape);
  if (d0 == d1)
    y.copy_from(x);
  else
    swap_dims(x, y, d0, d1);
  // The adjoint of a permutation is the same swap applied to the gradient.
  return record("transpose", y, {x}, [d0, d1](const Tensor& gy, const NeedsGrad&) {
    Shape gs = gy.shape();
    std::swap(gs[d0], gs[d1]);
    Tensor gx = Tensor::empty(gs);
    if (d0 == d1)
      gx.copy_from(gy);
    else
      swap_dims(gy, gx, d0, d1);
    return std::vector<Tensor>{gx};
  });
}

Tensor sum(const Tensor& x) {
  Tensor y = Tensor::full({1}, static_cast<float>(ops::sum(x.data(), x.numel())));
  const Shape shape = x.shape();
  // y = sum_i x_i  =>  dx_i = dy
  return record("sum", y, {x}, [shape](const Tensor& gy, const NeedsGrad&) {
    return std::vector<Tensor>{Tensor::full(shape, gy.item())};
  });
}

Tensor mean(const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) throw std::invalid_argument("mean of an empty tensor");
  Tensor y = Tensor::full({1}, static_cast<float>(ops::sum(x.data(), n) / static_cast<double>(n)));
  const Shape shape = x.shape();
  // y = sum_i x_i / n  =>  dx_i = dy / n
  return record("mean", y, {x}, [shape, n](const Tensor& gy, const NeedsGrad&) {
    return std::vector<Tensor>{Tensor::full(shape, gy.item() / static_cast<float>(n))};
  });
}

Tensor global_avg_pool(const Tensor& x) {
  if (x.ndim() != 4)
    throw std::invalid_argument("global_avg_pool: expected NHWC [N, H, W, C], got " +
                                shape_str(x.shape()));
  const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3);
  if (HW == 0) throw std::invalid_argument("global_avg_pool: empty spatial map");
  Tensor y = Tensor::empty({N, C});
  ops::global_avg_pool_forward(x.data(), y.data(), N, HW, C);
  const Shape shape = x.shape();
  return record("global_avg_pool", y, {x}, [=](const Tensor& gy, const NeedsGrad&) {
    Tensor gx = Tensor::empty(shape);
    ops::global_avg_pool_backward(gy.data(), gx.data(), N, HW, C);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace hsanet
