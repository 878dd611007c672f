// Gradient checks for the basic ops: for each, (1) the double reference backward against central
// differences, (2) the float autograd function (fast kernels + tape) against the reference,
// forward and every input gradient, with a random upstream gradient G. The elementwise and loss
// kernels run on every SIMD target compiled in and supported here (highway_targets.h), at small
// sizes and at sizes that take the multithreaded paths.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "gradcheck.h"
#include "highway_targets.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/elementwise_ref.h"
#include "ops/loss_ref.h"
#include "ops/matmul.h"
#include "ops/matmul_ref.h"
#include "ops/parallel.h"
#include "ops/reduce_ref.h"

namespace hsanet {
namespace {

using testing::Arrays;
using testing::expect_close;
using testing::expect_gradients_match;
using testing::for_each_target;
using testing::GradCheckOptions;
using testing::random_vector;

Tensor leaf(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::from_vector(testing::to_float(v), shape);
  t.set_requires_grad(true);
  return t;
}

// Runs y = f(inputs) on float tensors, backward with G, and compares y and every input gradient
// with the double reference's forward and backward.
void expect_fast_matches_reference(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const testing::ForwardFn& ref_fwd,
    const testing::BackwardFn& ref_bwd, const Arrays& inputs, const std::vector<Shape>& shapes,
    const std::string& what, double atol = 1e-5, double rtol = 1e-4) {
  std::vector<Tensor> ts;
  for (size_t i = 0; i < inputs.size(); ++i) ts.push_back(leaf(inputs[i], shapes[i]));
  Tensor y = f(ts);
  const std::vector<double> yref = ref_fwd(inputs);
  ASSERT_EQ(static_cast<size_t>(y.numel()), yref.size()) << what;
  expect_close(y.data(), yref.data(), yref.size(), atol, rtol, what + " forward");
  Rng rng(99);
  const std::vector<double> G = random_vector(yref.size(), rng);
  y.backward(Tensor::from_vector(testing::to_float(G), y.shape()));
  const Arrays gref = ref_bwd(inputs, G);
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_TRUE(ts[i].grad().defined()) << what << ": no gradient for input " << i;
    expect_close(ts[i].grad().data(), gref[i].data(), gref[i].size(), atol, rtol,
                 what + " gradient of input " + std::to_string(i));
  }
}

TEST(BasicOps, AddSubMulSameShape) {
  for_each_target([&] {
    Rng rng(1);
    const Shape s{3, 5};
    Arrays in{random_vector(15, rng), random_vector(15, rng)};
    for (int op = 0; op < 3; ++op) {
      auto fwd = [op](const Arrays& x) {
        std::vector<double> y(x[0].size());
        for (size_t i = 0; i < y.size(); ++i)
          y[i] = op == 0 ? x[0][i] + x[1][i] : op == 1 ? x[0][i] - x[1][i] : x[0][i] * x[1][i];
        return y;
      };
      auto bwd = [op](const Arrays& x, const std::vector<double>& G) {
        Arrays g{G, G};
        for (size_t i = 0; i < G.size(); ++i) {
          if (op == 1) g[1][i] = -G[i];
          if (op == 2) g[0][i] = G[i] * x[1][i], g[1][i] = G[i] * x[0][i];
        }
        return g;
      };
      expect_gradients_match(fwd, bwd, in, {}, "elementwise op " + std::to_string(op));
      expect_fast_matches_reference(
          [op](const std::vector<Tensor>& t) {
            return op == 0 ? add(t[0], t[1]) : op == 1 ? sub(t[0], t[1]) : mul(t[0], t[1]);
          },
          fwd, bwd, in, {s, s}, "elementwise op " + std::to_string(op));
    }
  });
}

TEST(BasicOps, ChannelBroadcastAddAndMul) {
  for_each_target([&] {
    // An NHWC tensor [2, 3, 3, 7] with a per-channel [7] vector; 7 is not a multiple of the lanes.
    Rng rng(2);
    const int64_t rows = 18, C = 7;
    Arrays in{random_vector(rows * C, rng), random_vector(C, rng)};
    for (int op = 0; op < 3; ++op) {
      auto fwd = [=](const Arrays& x) {
        std::vector<double> y(rows * C);
        if (op == 0) ops::ref::add_channel(x[0].data(), x[1].data(), y.data(), rows, C);
        if (op == 1) {
          std::vector<double> neg(C);
          for (int64_t c = 0; c < C; ++c) neg[c] = -x[1][c];
          ops::ref::add_channel(x[0].data(), neg.data(), y.data(), rows, C);
        }
        if (op == 2) ops::ref::mul_channel(x[0].data(), x[1].data(), y.data(), rows, C);
        return y;
      };
      auto bwd = [=](const Arrays& x, const std::vector<double>& G) {
        Arrays g{std::vector<double>(rows * C), std::vector<double>(C)};
        if (op == 2) {
          ops::ref::mul_channel(G.data(), x[1].data(), g[0].data(), rows, C);
          std::vector<double> prod(rows * C);
          for (int64_t i = 0; i < rows * C; ++i) prod[i] = G[i] * x[0][i];
          ops::ref::sum_rows(prod.data(), g[1].data(), rows, C);
        } else {
          g[0] = G;
          ops::ref::sum_rows(G.data(), g[1].data(), rows, C);
          if (op == 1)
            for (auto& v : g[1]) v = -v;
        }
        return g;
      };
      const std::string what = "channel op " + std::to_string(op);
      expect_gradients_match(fwd, bwd, in, {}, what);
      expect_fast_matches_reference(
          [op](const std::vector<Tensor>& t) {
            return op == 0 ? add(t[0], t[1]) : op == 1 ? sub(t[0], t[1]) : mul(t[0], t[1]);
          },
          fwd, bwd, in, {{2, 3, 3, C}, {C}}, what);
    }
  });
}

TEST(BasicOps, ScaleAndRelu) {
  for_each_target([&] {
    Rng rng(3);
    // Keep inputs away from 0, where ReLU has a kink that finite differences straddle.
    std::vector<double> x = random_vector(40, rng);
    for (auto& v : x) v += v >= 0 ? 0.1 : -0.1;
    auto rfwd = [](const Arrays& a) {
      std::vector<double> y(a[0].size());
      ops::ref::relu_forward(a[0].data(), y.data(), y.size());
      return y;
    };
    auto rbwd = [&](const Arrays& a, const std::vector<double>& G) {
      std::vector<double> y(a[0].size()), g(a[0].size());
      ops::ref::relu_forward(a[0].data(), y.data(), y.size());
      ops::ref::relu_backward(y.data(), G.data(), g.data(), g.size());
      return Arrays{g};
    };
    expect_gradients_match(rfwd, rbwd, {x}, {}, "relu");
    expect_fast_matches_reference([](const std::vector<Tensor>& t) { return relu(t[0]); }, rfwd,
                                  rbwd, {x}, {{4, 10}}, "relu");
    auto sfwd = [](const Arrays& a) {
      std::vector<double> y(a[0]);
      for (auto& v : y) v *= -2.5;
      return y;
    };
    auto sbwd = [](const Arrays&, const std::vector<double>& G) {
      std::vector<double> g(G);
      for (auto& v : g) v *= -2.5;
      return Arrays{g};
    };
    expect_gradients_match(sfwd, sbwd, {x}, {}, "scale");
    expect_fast_matches_reference([](const std::vector<Tensor>& t) { return scale(t[0], -2.5f); },
                                  sfwd, sbwd, {x}, {{40}}, "scale");
  });
}

TEST(BasicOps, ReluOfLargeArrayUsesThreadsAndTail) {
  for_each_target([&] {
    // 100003 elements: several threads and a masked tail.
    Rng rng(4);
    Tensor x = Tensor::randn({100003}, rng);
    Tensor y = relu(x);
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_EQ(y.data()[i], x.data()[i] > 0 ? x.data()[i] : 0.f) << "element " << i;
  });
}

// Sizes past kParallelGrain, with two threads: the chunked loops, the per-thread partial sums of
// sum_rows, and the tails, on every target, against the double reference.
TEST(BasicOps, ThreadedElementwiseAndSumRowsMatchTheReferenceOnEveryTarget) {
  ASSERT_GE(hwy::SupportedAndGeneratedTargets().size(), 2u) << "only one SIMD target to test";
  const int threads_before = ops::num_threads();
  ops::set_num_threads(2);
  Rng rng(12);
  const int64_t n = 100003, rows = 4099, C = 17;  // rows * C = 69683
  ASSERT_GE(rows * C, ops::kParallelGrain);
  const std::vector<float> a = testing::to_float(random_vector(n, rng)), b = testing::to_float(random_vector(n, rng));
  const std::vector<float> w = testing::to_float(random_vector(C, rng));
  for_each_target([&] {
    std::vector<float> out(n);
    ops::add(a.data(), b.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] + b[i]) << "add " << i;
    ops::sub(a.data(), b.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] - b[i]) << "sub " << i;
    ops::mul(a.data(), b.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] * b[i]) << "mul " << i;
    ops::scale(a.data(), -1.5f, out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] * -1.5f) << "scale " << i;
    out = b;
    ops::axpy(0.25f, a.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], 0.25 * a[i] + b[i], 1e-6) << "axpy " << i;
    ops::relu_backward(a.data(), b.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], a[i] > 0 ? b[i] : 0.f) << "relu_backward " << i;

    std::vector<double> ref(rows * C);
    const std::vector<double> ad(a.begin(), a.begin() + rows * C), wd(w.begin(), w.end());
    ops::add_channel(a.data(), w.data(), out.data(), rows, C);
    ops::ref::add_channel(ad.data(), wd.data(), ref.data(), rows, C);
    for (int64_t i = 0; i < rows * C; ++i) ASSERT_EQ(out[i], static_cast<float>(ref[i])) << "add_channel " << i;
    ops::mul_channel(a.data(), w.data(), out.data(), rows, C);
    ops::ref::mul_channel(ad.data(), wd.data(), ref.data(), rows, C);
    for (int64_t i = 0; i < rows * C; ++i) ASSERT_EQ(out[i], static_cast<float>(ref[i])) << "mul_channel " << i;

    // Column sums of 4099 rows: float partial sums against the double sum, within the rounding
    // of a sum of that many terms of this size.
    std::vector<float> sums(C);
    std::vector<double> dsums(C), prod(rows * C);
    ops::sum_rows(a.data(), sums.data(), rows, C);
    ops::ref::sum_rows(ad.data(), dsums.data(), rows, C);
    for (int64_t c = 0; c < C; ++c) ASSERT_NEAR(sums[c], dsums[c], 1e-3) << "sum_rows column " << c;
    for (int64_t i = 0; i < rows * C; ++i) prod[i] = static_cast<double>(a[i]) * b[i];
    ops::sum_rows_product(a.data(), b.data(), sums.data(), rows, C);
    ops::ref::sum_rows(prod.data(), dsums.data(), rows, C);
    for (int64_t c = 0; c < C; ++c) ASSERT_NEAR(sums[c], dsums[c], 1e-3) << "sum_rows_product column " << c;
  });
  ops::set_num_threads(threads_before);
}

struct MatmulCase {
  int64_t B, M, N, K;
};

TEST(BasicOps, MatmulBatchedAndPlain) {
  for (MatmulCase mc : {MatmulCase{1, 3, 4, 5}, MatmulCase{3, 7, 2, 9}, MatmulCase{1, 1, 6, 1}}) {
    Rng rng(5);
    const auto [B, M, N, K] = mc;
    Arrays in{random_vector(B * M * K, rng), random_vector(B * K * N, rng)};
    auto fwd = [=](const Arrays& x) {
      std::vector<double> y(B * M * N);
      ops::ref::matmul(x[0].data(), x[1].data(), y.data(), B, M, N, K);
      return y;
    };
    auto bwd = [=](const Arrays& x, const std::vector<double>& G) {
      Arrays g{std::vector<double>(B * M * K), std::vector<double>(B * K * N)};
      ops::ref::matmul(G.data(), x[1].data(), g[0].data(), B, M, K, N, false, true);
      ops::ref::matmul(x[0].data(), G.data(), g[1].data(), B, K, N, M, true, false);
      return g;
    };
    const std::string what = "matmul " + std::to_string(B) + "x" + std::to_string(M) + "x" +
                             std::to_string(N) + "x" + std::to_string(K);
    expect_gradients_match(fwd, bwd, in, {}, what);
    const std::vector<Shape> shapes =
        B == 1 ? std::vector<Shape>{{M, K}, {K, N}} : std::vector<Shape>{{B, M, K}, {B, K, N}};
    expect_fast_matches_reference([](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); },
                                  fwd, bwd, in, shapes, what);
  }
}

TEST(BasicOps, MatmulTransposedAndAccumulatingKernel) {
  // The kernel's transpose flags and accumulation, against the reference directly.
  Rng rng(6);
  const int64_t B = 2, M = 5, N = 3, K = 4;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<double> a = random_vector(B * M * K, rng), b = random_vector(B * K * N, rng);
      std::vector<double> c0 = random_vector(B * M * N, rng), cref = c0;
      ops::ref::matmul(a.data(), b.data(), cref.data(), B, M, N, K, ta, tb, true);
      std::vector<float> af = testing::to_float(a), bf = testing::to_float(b),
                         cf = testing::to_float(c0);
      ops::matmul(af.data(), bf.data(), cf.data(), B, M, N, K, ta, tb, true);
      expect_close(cf, cref, 1e-5, 1e-4, "matmul ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    }
}

TEST(BasicOps, LinearWithAndWithoutBias) {
  Rng rng(7);
  const int64_t N = 4, in = 6, out = 3;
  for (bool with_bias : {true, false}) {
    Arrays x{random_vector(N * in, rng), random_vector(out * in, rng)};
    if (with_bias) x.push_back(random_vector(out, rng));
    auto fwd = [=](const Arrays& a) {
      std::vector<double> y(N * out);
      ops::ref::matmul(a[0].data(), a[1].data(), y.data(), 1, N, out, in, false, true);
      if (with_bias) ops::ref::add_channel(y.data(), a[2].data(), y.data(), N, out);
      return y;
    };
    auto bwd = [=](const Arrays& a, const std::vector<double>& G) {
      Arrays g{std::vector<double>(N * in), std::vector<double>(out * in)};
      ops::ref::matmul(G.data(), a[1].data(), g[0].data(), 1, N, in, out);
      ops::ref::matmul(G.data(), a[0].data(), g[1].data(), 1, out, in, N, true, false);
      if (with_bias) {
        g.emplace_back(out);
        ops::ref::sum_rows(G.data(), g[2].data(), N, out);
      }
      return g;
    };
    expect_gradients_match(fwd, bwd, x, {}, "linear");
    std::vector<Shape> shapes{{N, in}, {out, in}};
    if (with_bias) shapes.push_back({out});
    expect_fast_matches_reference(
        [with_bias](const std::vector<Tensor>& t) {
          return linear(t[0], t[1], with_bias ? t[2] : Tensor());
        },
        fwd, bwd, x, shapes, with_bias ? "linear with bias" : "linear without bias");
  }
}

TEST(BasicOps, TransposeReshapeSumMean) {
  Rng rng(8);
  const Shape s{2, 3, 4};
  std::vector<double> x = random_vector(24, rng);
  // transpose(0, 2): out[k][j][i] = x[i][j][k]
  auto tfwd = [](const Arrays& a) {
    std::vector<double> y(24);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k) y[(k * 3 + j) * 2 + i] = a[0][(i * 3 + j) * 4 + k];
    return y;
  };
  auto tbwd = [](const Arrays&, const std::vector<double>& G) {
    std::vector<double> g(24);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k) g[(i * 3 + j) * 4 + k] = G[(k * 3 + j) * 2 + i];
    return Arrays{g};
  };
  expect_gradients_match(tfwd, tbwd, {x}, {}, "transpose");
  expect_fast_matches_reference(
      [](const std::vector<Tensor>& t) { return transpose(t[0], 0, 2); }, tfwd, tbwd, {x}, {s},
      "transpose(0, 2)");
  // reshape then a weighted op keeps the gradient's layout.
  auto ident = [](const Arrays& a) { return a[0]; };
  auto identb = [](const Arrays&, const std::vector<double>& G) { return Arrays{G}; };
  expect_fast_matches_reference(
      [](const std::vector<Tensor>& t) { return reshape(t[0], {6, 4}); }, ident, identb, {x}, {s},
      "reshape");
  auto sfwd = [](const Arrays& a) {
    double s = 0;
    for (double v : a[0]) s += v;
    return std::vector<double>{s};
  };
  auto sbwd = [](const Arrays& a, const std::vector<double>& G) {
    return Arrays{std::vector<double>(a[0].size(), G[0])};
  };
  expect_gradients_match(sfwd, sbwd, {x}, {}, "sum");
  expect_fast_matches_reference([](const std::vector<Tensor>& t) { return sum(t[0]); }, sfwd,
                                sbwd, {x}, {s}, "sum");
  auto mfwd = [&](const Arrays& a) { return std::vector<double>{sfwd(a)[0] / 24.0}; };
  auto mbwd = [](const Arrays& a, const std::vector<double>& G) {
    return Arrays{std::vector<double>(a[0].size(), G[0] / 24.0)};
  };
  expect_gradients_match(mfwd, mbwd, {x}, {}, "mean");
  expect_fast_matches_reference([](const std::vector<Tensor>& t) { return mean(t[0]); }, mfwd,
                                mbwd, {x}, {s}, "mean");
}

TEST(BasicOps, GlobalAvgPool) {
  Rng rng(9);
  const int64_t N = 2, H = 3, W = 5, C = 19;
  std::vector<double> x = random_vector(N * H * W * C, rng);
  auto fwd = [=](const Arrays& a) {
    std::vector<double> y(N * C);
    ops::ref::global_avg_pool_forward(a[0].data(), y.data(), N, H * W, C);
    return y;
  };
  auto bwd = [=](const Arrays&, const std::vector<double>& G) {
    std::vector<double> g(N * H * W * C);
    ops::ref::global_avg_pool_backward(G.data(), g.data(), N, H * W, C);
    return Arrays{g};
  };
  expect_gradients_match(fwd, bwd, {x}, {}, "global_avg_pool");
  expect_fast_matches_reference([](const std::vector<Tensor>& t) { return global_avg_pool(t[0]); },
                                fwd, bwd, {x}, {{N, H, W, C}}, "global_avg_pool");
}

TEST(BasicOps, CrossEntropyWithAndWithoutSmoothing) {
  for_each_target([&] {
    Rng rng(10);
    const int64_t N = 5, K = 7;
    const std::vector<int32_t> labels{0, 6, 3, 3, 1};
    for (double smoothing : {0.0, 0.1}) {
      std::vector<double> z = random_vector(N * K, rng, 3.0);
      auto fwd = [=](const Arrays& a) {
        std::vector<double> p(N * K);
        return std::vector<double>{
            ops::ref::cross_entropy_forward(a[0].data(), labels.data(), N, K, smoothing, p.data())};
      };
      auto bwd = [=](const Arrays& a, const std::vector<double>& G) {
        std::vector<double> p(N * K), g(N * K);
        ops::ref::cross_entropy_forward(a[0].data(), labels.data(), N, K, smoothing, p.data());
        ops::ref::cross_entropy_backward(p.data(), labels.data(), N, K, smoothing, G[0], g.data());
        return Arrays{g};
      };
      const std::string what = "cross_entropy smoothing " + std::to_string(smoothing);
      expect_gradients_match(fwd, bwd, {z}, {}, what);
      expect_fast_matches_reference(
          [&](const std::vector<Tensor>& t) {
            return cross_entropy(t[0], labels, static_cast<float>(smoothing));
          },
          fwd, bwd, {z}, {{N, K}}, what);
    }
  });
}

TEST(BasicOps, SoftCrossEntropyGradientAndFastPath) {
  for_each_target([&] {
    Rng rng(11);
    const int64_t N = 5, K = 19;  // 19: not a multiple of any vector width
    for (double scale : {0.1, 3.0, 30.0}) {
      std::vector<double> z = random_vector(N * K, rng, scale);
      // Targets: random distributions per row (as mixup with smoothing makes, but denser).
      std::vector<double> t(N * K);
      for (int64_t n = 0; n < N; ++n) {
        double sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += t[n * K + k] = rng.uniform_double();
        for (int64_t k = 0; k < K; ++k) t[n * K + k] /= sum;
      }
      auto fwd = [=](const Arrays& a) {
        std::vector<double> p(N * K);
        return std::vector<double>{
            ops::ref::soft_cross_entropy_forward(a[0].data(), a[1].data(), N, K, p.data())};
      };
      auto bwd = [=](const Arrays& a, const std::vector<double>& G) {
        std::vector<double> p(N * K), g(N * K);
        ops::ref::soft_cross_entropy_forward(a[0].data(), a[1].data(), N, K, p.data());
        ops::ref::soft_cross_entropy_backward(p.data(), a[1].data(), N, K, G[0], g.data());
        return Arrays{g, std::vector<double>(N * K, 0.0)};
      };
      const std::string what = "soft_cross_entropy scale " + std::to_string(scale);
      GradCheckOptions opt;
      opt.skip = {1};  // the targets take no gradient
      expect_gradients_match(fwd, bwd, {z, t}, opt, what);
      // The fast path: targets enter as a constant tensor.
      Tensor zt = Tensor::from_vector(testing::to_float(z), {N, K});
      zt.set_requires_grad(true);
      Tensor loss = soft_cross_entropy(zt, Tensor::from_vector(testing::to_float(t), {N, K}));
      const std::vector<double> ref = fwd({z, t});
      expect_close(loss.data(), ref.data(), 1, 1e-5, 1e-5, what + " forward");
      loss.backward(Tensor::full({1}, 0.7f));
      const Arrays gref = bwd({z, t}, {0.7});
      expect_close(zt.grad().data(), gref[0].data(), gref[0].size(), 1e-6, 1e-4, what + " gradient");
    }
  });
}

TEST(BasicOps, SoftCrossEntropyGradientHoldsForTargetsNotSummingToOne) {
  // The backward's general form p * sum(t) - t: checked against finite differences with rows of
  // targets that sum to 0.3 and 2.5, where p - t would be wrong.
  const int64_t N = 2, K = 4;
  std::vector<double> z{0.5, -1.0, 2.0, 0.1, -0.3, 0.7, 0.0, 1.2};
  std::vector<double> t{0.1, 0.1, 0.1, 0.0, 1.0, 0.5, 0.5, 0.5};
  auto fwd = [=](const Arrays& a) {
    std::vector<double> p(N * K);
    return std::vector<double>{ops::ref::soft_cross_entropy_forward(a[0].data(), a[1].data(), N, K, p.data())};
  };
  auto bwd = [=](const Arrays& a, const std::vector<double>& G) {
    std::vector<double> p(N * K), g(N * K);
    ops::ref::soft_cross_entropy_forward(a[0].data(), a[1].data(), N, K, p.data());
    ops::ref::soft_cross_entropy_backward(p.data(), a[1].data(), N, K, G[0], g.data());
    return Arrays{g, std::vector<double>(N * K, 0.0)};
  };
  GradCheckOptions opt;
  opt.skip = {1};
  expect_gradients_match(fwd, bwd, {z, t}, opt, "soft_cross_entropy, unnormalised targets");
}

TEST(BasicOps, SoftCrossEntropyOnOneHotTargetsEqualsHardLoss) {
  // One-hot targets, plain and label-smoothed ((1 - s) onehot + s / K), give the hard-label loss
  // and its gradient on every SIMD target; a mixed target gives the lambda-weighted hard losses.
  for_each_target([&] {
    Rng rng(12);
    const int64_t N = 4, K = 9;
    const std::vector<int32_t> a{0, 8, 3, 3}, b{5, 8, 1, 2};
    std::vector<float> z(N * K);
    for (float& v : z) v = rng.normal(0.f, 2.f);
    auto onehot = [&](const std::vector<int32_t>& labels, float s) {
      std::vector<float> t(N * K, s / K);
      for (int64_t n = 0; n < N; ++n) t[n * K + labels[n]] += 1.f - s;
      return t;
    };
    for (float s : {0.f, 0.1f}) {
      Tensor z1 = Tensor::from_vector(z, {N, K}), z2 = Tensor::from_vector(z, {N, K});
      z1.set_requires_grad(true);
      z2.set_requires_grad(true);
      Tensor hard = cross_entropy(z1, a, s);
      Tensor soft = soft_cross_entropy(z2, Tensor::from_vector(onehot(a, s), {N, K}));
      EXPECT_NEAR(soft.item(), hard.item(), 1e-6 + 1e-6 * std::fabs(hard.item())) << "smoothing " << s;
      hard.backward();
      soft.backward();
      const std::vector<float> g1 = z1.grad().to_vector(), g2 = z2.grad().to_vector();
      for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], g1[i], 1e-7) << "smoothing " << s << " element " << i;

      // Mixed: lambda * smooth(onehot(a)) + (1 - lambda) * smooth(onehot(b)) -> the weighted losses.
      const float lam = 0.3f;
      std::vector<float> ta = onehot(a, s), tb = onehot(b, s), t(N * K);
      for (size_t i = 0; i < t.size(); ++i) t[i] = lam * ta[i] + (1 - lam) * tb[i];
      const float mixed = soft_cross_entropy(Tensor::from_vector(z, {N, K}), Tensor::from_vector(t, {N, K})).item();
      const float weighted = lam * cross_entropy(Tensor::from_vector(z, {N, K}), a, s).item() +
                             (1 - lam) * cross_entropy(Tensor::from_vector(z, {N, K}), b, s).item();
      EXPECT_NEAR(mixed, weighted, 1e-5) << "smoothing " << s;
    }
  });
}

TEST(BasicOps, SoftCrossEntropyRefusesMismatchedTargets) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_THROW(soft_cross_entropy(z, Tensor::zeros({2, 4})), std::invalid_argument);
  EXPECT_THROW(soft_cross_entropy(Tensor::zeros({6}), Tensor::zeros({6})), std::invalid_argument);
}

TEST(BasicOps, CrossEntropyStaysFiniteAtHugeLogits) {
  for_each_target([&] {
    Tensor z = Tensor::from_vector({1e4f, -1e4f, 0.f, -1e4f, 1e4f, 1e4f}, {2, 3});
    z.set_requires_grad(true);
    Tensor loss = cross_entropy(z, {0, 2}, 0.f);
    ASSERT_TRUE(std::isfinite(loss.item()));
    // Row 0: label is the max, loss ~0. Row 1: label 2 ties with 1: loss = log 2.
    EXPECT_NEAR(loss.item(), 0.5 * std::log(2.0), 1e-5);
    loss.backward();
    for (float g : z.grad().to_vector()) EXPECT_TRUE(std::isfinite(g));
  });
}

TEST(BasicOps, BadShapesAreRefusedClearly) {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  EXPECT_THROW(add(a, b), std::invalid_argument);
  EXPECT_THROW(matmul(a, a), std::invalid_argument);
  EXPECT_THROW(linear(a, b, Tensor()), std::invalid_argument);
  EXPECT_THROW(cross_entropy(a, {0, 3}), std::invalid_argument);
  EXPECT_THROW(cross_entropy(a, {0}), std::invalid_argument);
  try {
    add(a, b);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
}

#if defined(__x86_64__) || defined(__i386__)
TEST(Threads, FlushDenormalsReachesEveryOpenMpWorker) {
  ops::set_num_threads(2);
  // The smallest normal float over 4: a denormal input, and a product that would be one.
  volatile float tiny = std::numeric_limits<float>::min() / 4;
  auto all_threads = [&](auto check) {
    int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    bad += check() ? 0 : 1;
    return bad == 0;
  };
  ops::flush_denormals(true);
  EXPECT_TRUE(ops::denormals_flushed());
  EXPECT_TRUE(all_threads([&] { return tiny * 1.0f == 0.0f && ops::denormals_flushed(); }));
  ops::flush_denormals(false);
  EXPECT_FALSE(ops::denormals_flushed());
  EXPECT_TRUE(all_threads([&] { return tiny * 1.0f > 0.0f && !ops::denormals_flushed(); }));
}
#endif

}  // namespace
}  // namespace hsanet

