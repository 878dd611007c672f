// Modules, optimisers, and an end-to-end check that the engine learns.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "autograd/random.h"
#include "nn/clip_grad.h"
#include "nn/linear.h"
#include "nn/optimizer.h"

namespace hsanet {
namespace {

TEST(Module, DottedNamesInRegistrationOrder) {
  manual_seed(1);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(4, 8));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::Linear>(8, 2, false));
  std::vector<std::string> names;
  for (auto& [n, t] : net.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  EXPECT_EQ(net.num_parameters(), 4 * 8 + 8 + 8 * 2);
  for (auto& t : net.parameters()) EXPECT_TRUE(t.requires_grad());
  net.eval();
  EXPECT_FALSE(net.children()[0].second->is_training());
}

TEST(Module, LinearInitBounds) {
  manual_seed(2);
  nn::Linear fc(100, 10);
  for (float w : fc.weight.to_vector()) {
    EXPECT_LE(std::fabs(w), 0.1f);
  }
}

TEST(Optimizer, SgdMomentumNesterovWeightDecayMatchHandComputation) {
  Tensor p = Tensor::from_vector({1.f}, {1});
  p.set_requires_grad(true);
  nn::SGD opt({{"p", p}}, {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f, .nesterov = true});
  // step 1: d = g + wd p = 0.5 + 0.01 = 0.51; buf = 0.51; d = 0.51 + 0.9*0.51 = 0.969
  p.set_grad(Tensor::from_vector({0.5f}, {1}));
  opt.step();
  EXPECT_NEAR(p.item(), 1.f - 0.1f * 0.969f, 1e-6);
  const float p1 = p.item();
  // step 2: d = 0.5 + 0.01 p1; buf = 0.9*0.51 + d; d' = d + 0.9 buf
  opt.step();
  const float d = 0.5f + 0.01f * p1, buf = 0.9f * 0.51f + d;
  EXPECT_NEAR(p.item(), p1 - 0.1f * (d + 0.9f * buf), 1e-6);
  EXPECT_EQ(p.version(), 2u);
}

TEST(Optimizer, AdamWMatchesHandComputation) {
  Tensor p = Tensor::from_vector({1.f}, {1});
  p.set_requires_grad(true);
  nn::AdamW opt({{"p", p}}, {.lr = 0.01f, .weight_decay = 0.1f});
  p.set_grad(Tensor::from_vector({0.3f}, {1}));
  opt.step();
  // p = 1 * (1 - 0.001) = 0.999;  m^ = 0.3, v^ = 0.09;  p -= 0.01 * 0.3 / (0.3 + 1e-8)
  EXPECT_NEAR(p.item(), 0.999f - 0.01f, 1e-6);
}

TEST(Optimizer, StateRoundTrip) {
  Tensor p = Tensor::from_vector({1.f, 2.f}, {2});
  p.set_requires_grad(true);
  nn::SGD a({{"w", p}}, {.lr = 0.1f, .momentum = 0.9f});
  p.set_grad(Tensor::from_vector({1.f, 1.f}, {2}));
  a.step();
  Tensor q = p.clone();
  q.set_requires_grad(true);
  nn::SGD b({{"w", q}}, {.lr = 0.1f, .momentum = 0.9f});
  b.load_state(a.state());
  EXPECT_EQ(b.steps(), 1);
  q.set_grad(p.grad());
  a.step();
  b.step();
  EXPECT_EQ(p.to_vector(), q.to_vector());
  EXPECT_THROW(nn::SGD({{"w", q}}, {.lr = -1.f}), std::invalid_argument);
}

// Two interleaved spirals: not linearly separable, so the MLP must really learn.
TEST(Training, TinyMlpFitsSpiralsDeterministically) {
  auto run = [] {
    manual_seed(42);
    const int n = 64;
    std::vector<float> xs;
    std::vector<int32_t> labels;
    for (int i = 0; i < n; ++i) {
      const int c = i % 2;
      const float t = 0.5f + 3.f * static_cast<float>(i / 2) / (n / 2);
      const float ang = t + c * 3.14159f;
      xs.push_back(t * std::cos(ang) / 3.5f);
      xs.push_back(t * std::sin(ang) / 3.5f);
      labels.push_back(c);
    }
    Tensor x = Tensor::from_vector(xs, {n, 2});
    nn::Sequential net;
    net.add(std::make_shared<nn::Linear>(2, 64));
    net.add(std::make_shared<nn::ReLU>());
    net.add(std::make_shared<nn::Linear>(64, 64));
    net.add(std::make_shared<nn::ReLU>());
    net.add(std::make_shared<nn::Linear>(64, 2));
    nn::AdamW opt(net.named_parameters(), {.lr = 0.01f, .weight_decay = 0.f});
    float loss = 0;
    for (int step = 0; step < 1500; ++step) {
      opt.zero_grad();
      Tensor l = cross_entropy(net(x), labels);
      l.backward();
      opt.step();
      loss = l.item();
    }
    return loss;
  };
  const float a = run(), b = run();
  EXPECT_LT(a, 0.02f);
  EXPECT_EQ(a, b) << "same seed, same result";
}

}  // namespace
}  // namespace hsanet

namespace hsanet {
namespace {

// Gradients 3,4 and 12 (one parameter without a gradient): total norm 13, as
// torch.nn.utils.clip_grad_norm_ computes it over all of them together.
struct ClipFixture {
  Tensor a = Tensor::from_vector({0.f, 0.f}, {2});
  Tensor b = Tensor::from_vector({0.f}, {1});
  Tensor none = Tensor::from_vector({0.f}, {1});
  nn::NamedTensors params{{"a", a}, {"b", b}, {"none", none}};
  ClipFixture() {
    for (Tensor* t : {&a, &b, &none}) t->set_requires_grad(true);
    a.set_grad(Tensor::from_vector({3.f, -4.f}, {2}));
    b.set_grad(Tensor::from_vector({12.f}, {1}));
  }
};

TEST(ClipGrad, NormScalesEveryGradientByOneGlobalFactor) {
  ClipFixture f;
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm(f.params, 6.5), 13.0);
  const float coef = static_cast<float>(6.5 / (13.0 + 1e-6));  // PyTorch's max_norm / (total + 1e-6)
  EXPECT_FLOAT_EQ(f.a.grad().data()[0], 3.f * coef);
  EXPECT_FLOAT_EQ(f.a.grad().data()[1], -4.f * coef);
  EXPECT_FLOAT_EQ(f.b.grad().data()[0], 12.f * coef);
  EXPECT_FALSE(f.none.grad().defined());
  // Within the bound nothing changes, and the norm is still reported.
  ClipFixture g;
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm(g.params, 20.0), 13.0);
  EXPECT_EQ(g.b.grad().data()[0], 12.f);
}

TEST(ClipGrad, ValueClampsEachElement) {
  ClipFixture f;
  nn::clip_grad_value(f.params, 3.5);
  EXPECT_EQ(f.a.grad().data()[0], 3.f);
  EXPECT_EQ(f.a.grad().data()[1], -3.5f);
  EXPECT_EQ(f.b.grad().data()[0], 3.5f);
}

}  // namespace
}  // namespace hsanet
