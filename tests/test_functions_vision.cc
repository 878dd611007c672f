// The differentiable vision functions (autograd/functions_vision.h): their tape wiring against
// the double references, the gradients they skip, the weight-version contract, the running
// statistics, the fused batch-norm forms against their unfused compositions, argument errors.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/functions_basic.h"
#include "autograd/functions_vision.h"
#include "autograd/node.h"
#include "base/profiler.h"
#include "gradcheck.h"
#include "ops/batchnorm_ref.h"
#include "ops/conv2d.h"
#include "ops/conv2d_ref.h"
#include "ops/pool_ref.h"

namespace hsanet {
namespace {

using testing::expect_close;
using testing::random_vector;
using testing::to_double;
using testing::to_float;

// A tensor of N(0, scale^2) values, as doubles too for the references.
struct Input {
  Tensor t;
  std::vector<double> d;
};
Input input(const Shape& shape, Rng& rng, bool requires_grad, double scale = 1.0) {
  Input in;
  in.d = random_vector(static_cast<size_t>(numel(shape)), rng, scale);
  for (auto& v : in.d) v = static_cast<float>(v);
  in.t = Tensor::from_vector(to_float(in.d), shape);
  if (requires_grad) in.t.set_requires_grad(true);
  return in;
}

ops::Conv2dShape conv_shape(const Shape& x, const Shape& w, int64_t stride, int64_t pad,
                            int64_t dilation, int64_t groups) {
  ops::Conv2dShape s;
  s.N = x[0], s.H = x[1], s.W = x[2], s.C = x[3], s.O = w[0], s.KH = w[2], s.KW = w[3];
  s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad;
  s.dilation_h = s.dilation_w = dilation, s.groups = groups;
  return s;
}

// ---------------------------------------------------------------- conv2d

TEST(Conv2dFunction, GradientsMatchReference) {
  Rng rng(1);
  const Shape xs{2, 7, 6, 4}, ws{6, 2, 3, 3};  // groups 2
  Input x = input(xs, rng, true), w = input(ws, rng, true, 0.3), b = input({6}, rng, true);
  const ops::Conv2dShape s = conv_shape(xs, ws, 2, 1, 1, 2);
  Tensor y = conv2d(x.t, w.t, b.t, 2, 1, 1, 2);
  ASSERT_EQ(y.shape(), (Shape{2, s.OH(), s.OW(), 6}));
  Input g = input(y.shape(), rng, false);
  y.backward(g.t);

  std::vector<double> y_ref(y.numel()), dx(x.d.size()), dw(w.d.size()), db(6);
  ops::ref::conv2d_forward(s, x.d.data(), w.d.data(), b.d.data(), y_ref.data());
  ops::ref::conv2d_backward_data(s, g.d.data(), w.d.data(), dx.data());
  ops::ref::conv2d_backward_weights(s, x.d.data(), g.d.data(), dw.data(), db.data());
  expect_close(y.to_vector(), y_ref, 1e-4, 1e-4, "y");
  expect_close(x.t.grad().to_vector(), dx, 1e-4, 1e-4, "dx");
  expect_close(w.t.grad().to_vector(), dw, 1e-4, 1e-4, "dw");
  expect_close(b.t.grad().to_vector(), db, 1e-4, 1e-4, "db");
}

TEST(Conv2dFunction, FirstLayerSkipsBackwardData) {
  // A geometry no other test uses, so the primitive counter sees only this test's primitives.
  Rng rng(2);
  Input x = input({1, 11, 13, 3}, rng, false), w = input({8, 3, 5, 5}, rng, true, 0.3);
  const int64_t before = ops::conv2d_cache_stats().primitives_created;
  Tensor y = conv2d(x.t, w.t, Tensor(), 2, 2);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->needs, (NeedsGrad{false, true, false}));
  y.backward(Tensor::ones(y.shape()));
  EXPECT_FALSE(x.t.grad().defined());
  EXPECT_TRUE(w.t.grad().defined());
  // forward_training and backward-weights only: no backward-data primitive was ever needed.
  EXPECT_EQ(ops::conv2d_cache_stats().primitives_created - before, 2);
}

TEST(Conv2dFunction, ProfilerByShapeNamesEachGeometryAndPass) {
  Rng rng(4);
  Input x = input({2, 6, 5, 3}, rng, true), w = input({4, 3, 3, 3}, rng, true);
  auto run = [&] {
    Tensor y = conv2d(x.t, w.t, Tensor(), 2, 1);
    y.backward(Tensor::ones(y.shape()));
  };
  {
    Profiler prof(/*by_shape=*/true);
    run();
    const auto& e = prof.entries();
    for (const char* key : {"forward conv2d 3->4 3x3/2 6x5", "backward conv2d 3->4 3x3/2 6x5 data",
                            "backward conv2d 3->4 3x3/2 6x5 weights"}) {
      ASSERT_EQ(e.count(key), 1u) << key;
      EXPECT_EQ(e.at(key).calls, 1) << key;
    }
  }
  Profiler plain;
  run();
  for (const auto& [key, entry] : plain.entries())
    EXPECT_EQ(key.find("conv2d 3->4"), std::string::npos) << key;  // only with by_shape
}

TEST(Conv2dFunction, BiasAloneGetsItsGradient) {
  Rng rng(3);
  Input x = input({2, 5, 5, 3}, rng, false), w = input({4, 3, 3, 3}, rng, false);
  Input b = input({4}, rng, true);
  Tensor y = conv2d(x.t, w.t, b.t, 1, 1);
  Input g = input(y.shape(), rng, false);
  y.backward(g.t);
  std::vector<double> db(4, 0.0);
  for (int64_t i = 0; i < y.numel(); ++i) db[i % 4] += g.d[i];
  expect_close(b.t.grad().to_vector(), db, 1e-5, 1e-5, "db");
}

TEST(Conv2dFunction, NoGradUsesInferenceAndRecordsNothing) {
  Rng rng(4);
  Input x = input({1, 6, 6, 8}, rng, true), w = input({8, 8, 3, 3}, rng, true, 0.3);
  Tensor trained = conv2d(x.t, w.t, Tensor(), 1, 1);
  NoGradGuard no_grad;
  Tensor y = conv2d(x.t, w.t, Tensor(), 1, 1);
  EXPECT_FALSE(y.requires_grad());
  expect_close(y.to_vector(), to_double(trained.to_vector()), 1e-5, 1e-5, "inference vs training");
}

TEST(Conv2dFunction, OneReorderPerWeightVersion) {
  Rng rng(5);
  Input x = input({2, 8, 8, 16}, rng, true), w = input({32, 16, 3, 3}, rng, true, 0.3);
  auto step = [&] {
    Tensor y = conv2d(x.t, w.t, Tensor(), 1, 1);
    y.backward(Tensor::ones(y.shape()));
  };
  step();  // creates the cache entries
  const int64_t r0 = ops::conv2d_cache_stats().weight_reorders;
  step();  // same version: forward and backward-data reuse their copies
  EXPECT_EQ(ops::conv2d_cache_stats().weight_reorders, r0);
  w.t.bump_version();  // an optimiser step
  step();
  // At most one reorder per layout (forward and backward-data may prefer different ones).
  EXPECT_LE(ops::conv2d_cache_stats().weight_reorders - r0, 2);
}

TEST(Conv2dFunction, WeightChangedBetweenForwardAndBackwardIsAnError) {
  Rng rng(6);
  Input x = input({1, 5, 5, 4}, rng, true), w = input({4, 4, 3, 3}, rng, true);
  Tensor y = conv2d(x.t, w.t, Tensor(), 1, 1);
  w.t.bump_version();
  EXPECT_THROW(y.backward(Tensor::ones(y.shape())), std::logic_error);
}

TEST(Conv2dFunction, BadArgumentsNameTheShapes) {
  Rng rng(7);
  Tensor x = Tensor::zeros({1, 8, 8, 3});
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  std::string m = message([&] { conv2d(x, Tensor::zeros({4, 5, 3, 3})); });
  EXPECT_NE(m.find("channels"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 5, 3, 3]"), std::string::npos) << m;
  m = message([&] { conv2d(x, Tensor::zeros({4, 3, 11, 11}), Tensor(), 1, 1); });
  EXPECT_NE(m.find("larger than the padded input"), std::string::npos) << m;
  m = message([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}), Tensor::zeros({5})); });
  EXPECT_NE(m.find("bias"), std::string::npos) << m;
  m = message([&] { conv2d(Tensor::zeros({8, 8, 3}), Tensor::zeros({4, 3, 3, 3})); });
  EXPECT_NE(m.find("NHWC"), std::string::npos) << m;
}

// ---------------------------------------------------------------- pooling

TEST(PoolFunctions, GradientsMatchReference) {
  Rng rng(8);
  for (bool use_max : {true, false}) {
    Input x = input({2, 7, 9, 5}, rng, true);
    ops::Pool2dShape s;
    s.N = 2, s.H = 7, s.W = 9, s.C = 5;
    Tensor y;
    if (use_max) {
      s.KH = s.KW = 3, s.stride_h = s.stride_w = 2, s.pad_h = s.pad_w = 1;
      y = max_pool2d(x.t, 3, 2, 1);
    } else {
      s.KH = s.KW = 2, s.stride_h = s.stride_w = 2, s.ceil_mode = true;
      y = avg_pool2d(x.t, 2, 2, 0, true);
    }
    ASSERT_EQ(y.shape(), (Shape{2, s.OH(), s.OW(), 5}));
    Input g = input(y.shape(), rng, false);
    y.backward(g.t);
    std::vector<double> y_ref(y.numel()), dx(x.d.size());
    if (use_max) {
      std::vector<int32_t> arg(y.numel());
      ops::ref::max_pool2d_forward(s, x.d.data(), y_ref.data(), arg.data());
      ops::ref::max_pool2d_backward(s, g.d.data(), arg.data(), dx.data());
    } else {
      ops::ref::avg_pool2d_forward(s, x.d.data(), y_ref.data());
      ops::ref::avg_pool2d_backward(s, g.d.data(), dx.data());
    }
    const std::string what = use_max ? "max_pool2d" : "avg_pool2d";
    expect_close(y.to_vector(), y_ref, 1e-6, 1e-5, what + " y");
    expect_close(x.t.grad().to_vector(), dx, 1e-6, 1e-5, what + " dx");
  }
}

TEST(PoolFunctions, AttentionBlockPoolOnOddMap) {
  // 2x2/2 ceil mode: 7x7 -> 4x4, the last row and column average a single input row/column.
  Tensor x = Tensor::ones({1, 7, 7, 2});
  Tensor y = avg_pool2d(x, 2, 2, 0, true);
  ASSERT_EQ(y.shape(), (Shape{1, 4, 4, 2}));
  for (float v : y.to_vector()) EXPECT_FLOAT_EQ(v, 1.f);
}

// ---------------------------------------------------------------- batch norm

TEST(BatchNormFunction, TrainingMatchesReferenceAndUpdatesRunningStats) {
  Rng rng(9);
  const int64_t C = 5;
  Input x = input({2, 3, 4, C}, rng, true), gamma = input({C}, rng, true),
        beta = input({C}, rng, true);
  Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
  const uint64_t rm_version = rm.version();
  Tensor y = batch_norm2d(x.t, gamma.t, beta.t, rm, rv, true);
  EXPECT_GT(rm.version(), rm_version);  // the in-place update is visible to caches
  Input g = input(y.shape(), rng, false);
  y.backward(g.t);

  const int64_t rows = 24;
  ops::BatchNormOptions opt;
  std::vector<double> y_ref(rows * C), mean(C), invstd(C), rm_ref(C, 0.0), rv_ref(C, 1.0);
  ops::ref::batchnorm_forward_train(x.d.data(), gamma.d.data(), beta.d.data(),
                                    static_cast<const double*>(nullptr), y_ref.data(), mean.data(),
                                    invstd.data(), rm_ref.data(), rv_ref.data(), rows, C, opt);
  std::vector<double> dx(rows * C), dg(C), db(C);
  ops::ref::batchnorm_backward(x.d.data(), y_ref.data(), g.d.data(), mean.data(), invstd.data(),
                               gamma.d.data(), dx.data(), static_cast<double*>(nullptr),
                               dg.data(), db.data(), rows, C, true, opt);
  expect_close(y.to_vector(), y_ref, 1e-5, 1e-4, "y");
  expect_close(rm.to_vector(), rm_ref, 1e-6, 1e-5, "running_mean");
  expect_close(rv.to_vector(), rv_ref, 1e-6, 1e-5, "running_var");
  expect_close(x.t.grad().to_vector(), dx, 1e-5, 1e-4, "dx");
  expect_close(gamma.t.grad().to_vector(), dg, 1e-5, 1e-4, "dgamma");
  expect_close(beta.t.grad().to_vector(), db, 1e-5, 1e-4, "dbeta");
}

TEST(BatchNormFunction, EvaluationUsesRunningStats) {
  Rng rng(10);
  const int64_t C = 3;
  Input x = input({1, 2, 2, C}, rng, true);
  Tensor gamma = Tensor::from_vector({1.f, 2.f, 0.5f}, {C}).set_requires_grad(true);
  Tensor beta = Tensor::from_vector({0.f, 1.f, -1.f}, {C}).set_requires_grad(true);
  Tensor rm = Tensor::from_vector({0.5f, -1.f, 2.f}, {C});
  Tensor rv = Tensor::from_vector({4.f, 1.f, 0.25f}, {C});
  Tensor y = batch_norm2d(x.t, gamma, beta, rm, rv, false);
  std::vector<float> yv = y.to_vector(), rmv = rm.to_vector(), rvv = rv.to_vector();
  for (int64_t i = 0; i < 4 * C; ++i) {
    const int64_t c = i % C;
    const double want = gamma.data()[c] * (x.d[i] - rmv[c]) / std::sqrt(rvv[c] + 1e-5) + beta.data()[c];
    EXPECT_NEAR(yv[i], want, 1e-5) << i;
  }
  EXPECT_EQ(rm.to_vector(), rmv);  // untouched in evaluation
  y.backward(Tensor::ones(y.shape()));
  // With fixed statistics dx = gamma / sqrt(running_var + eps) * dy.
  for (int64_t i = 0; i < 4 * C; ++i) {
    const int64_t c = i % C;
    EXPECT_NEAR(x.t.grad().data()[i], gamma.data()[c] / std::sqrt(rvv[c] + 1e-5), 1e-5);
  }
}

TEST(BatchNormFunction, FusedFormsMatchTheirCompositions) {
  const int64_t C = 6;
  for (bool with_residual : {false, true}) {
    SCOPED_TRACE(with_residual ? "bn + add + relu" : "bn + relu");
    // Two identical sets of leaves: one through the fused function, one through the parts.
    Rng rng(11);
    Input x = input({2, 3, 5, C}, rng, false), r = input({2, 3, 5, C}, rng, false);
    Input gm = input({C}, rng, false), bt = input({C}, rng, false), g = input({2, 3, 5, C}, rng, false);
    auto leaf = [](const Input& in) { return in.t.clone().set_requires_grad(true); };
    Tensor x1 = leaf(x), r1 = leaf(r), gm1 = leaf(gm), bt1 = leaf(bt);
    Tensor x2 = leaf(x), r2 = leaf(r), gm2 = leaf(gm), bt2 = leaf(bt);
    Tensor rm1 = Tensor::zeros({C}), rv1 = Tensor::ones({C});
    Tensor rm2 = Tensor::zeros({C}), rv2 = Tensor::ones({C});
    Tensor fused = with_residual ? batch_norm2d_add_relu(x1, r1, gm1, bt1, rm1, rv1, true)
                                 : batch_norm2d_relu(x1, gm1, bt1, rm1, rv1, true);
    Tensor bn = batch_norm2d(x2, gm2, bt2, rm2, rv2, true);
    Tensor parts = relu(with_residual ? add(bn, r2) : bn);
    expect_close(fused.to_vector(), to_double(parts.to_vector()), 1e-6, 1e-5, "y");
    fused.backward(g.t);
    parts.backward(g.t);
    expect_close(x1.grad().to_vector(), to_double(x2.grad().to_vector()), 1e-5, 1e-4, "dx");
    expect_close(gm1.grad().to_vector(), to_double(gm2.grad().to_vector()), 1e-5, 1e-4, "dgamma");
    expect_close(bt1.grad().to_vector(), to_double(bt2.grad().to_vector()), 1e-5, 1e-4, "dbeta");
    if (with_residual)
      expect_close(r1.grad().to_vector(), to_double(r2.grad().to_vector()), 0, 0, "dresidual");
    expect_close(rv1.to_vector(), to_double(rv2.to_vector()), 0, 0, "running_var");
  }
}

TEST(BatchNormFunction, BadArgumentsThrow) {
  Tensor x = Tensor::zeros({2, 2, 2, 4});
  EXPECT_THROW(batch_norm2d(x, Tensor::ones({3}), Tensor(), Tensor(), Tensor(), true),
               std::invalid_argument);
  EXPECT_THROW(batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), false),
               std::invalid_argument);  // evaluation without running statistics
  EXPECT_THROW(batch_norm2d(Tensor::zeros({1, 1, 1, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
               std::invalid_argument);  // one value per channel
  EXPECT_THROW(batch_norm2d_add_relu(x, Tensor::zeros({2, 2, 2, 3}), Tensor(), Tensor(), Tensor(),
                                     Tensor(), true),
               std::invalid_argument);
}

}  // namespace
}  // namespace hsanet
