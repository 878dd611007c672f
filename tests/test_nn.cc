// Modules, optimisers, and an end-to-end check that the engine learns.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "base/random.h"
#include "nn/clip_grad.h"
#include "nn/ema.h"
#include "nn/linear.h"
#include "nn/optimizer.h"
#include "nn/plateau.h"

namespace hsanet {
namespace {

TEST(Module, DottedNamesInRegistrationOrder) {
  Rng init(1);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(4, 8, init));
  net.add(std::make_shared<nn::ReLU>());
  net.add(std::make_shared<nn::Linear>(8, 2, init, false));
  std::vector<std::string> names;
  for (auto& [n, t] : net.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
  EXPECT_EQ(net.num_parameters(), 4 * 8 + 8 + 8 * 2);
  for (auto& t : net.parameters()) EXPECT_TRUE(t.requires_grad());
  net.eval();
  EXPECT_FALSE(net.children()[0].second->is_training());
}

TEST(Module, LinearInitBounds) {
  Rng init(2);
  nn::Linear fc(100, 10, init);
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
    Rng init(42);
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
    net.add(std::make_shared<nn::Linear>(2, 64, init));
    net.add(std::make_shared<nn::ReLU>());
    net.add(std::make_shared<nn::Linear>(64, 64, init));
    net.add(std::make_shared<nn::ReLU>());
    net.add(std::make_shared<nn::Linear>(64, 2, init));
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

// A parameter [2] and a buffer [1], as a model's weights and batch norm's running statistics.
class WeightAndBuffer : public nn::Module {
 public:
  WeightAndBuffer() {
    w = register_parameter("w", Tensor::from_vector({1.f, 2.f}, {2}));
    running = register_buffer("running", Tensor::from_vector({10.f}, {1}));
  }
  void set(float w0, float w1, float r) {
    w.data()[0] = w0, w.data()[1] = w1, running.data()[0] = r;
  }
  Tensor w, running;
};

TEST(ModelEma, AveragesParametersAndBuffersAsHandComputed) {
  WeightAndBuffer m;
  nn::ModelEma ema(m, 0.9, /*warmup=*/false);
  m.set(3, 4, 20);
  ema.update(m, 0);  // ema = 0.9 ema + 0.1 model
  m.set(5, 6, 30);
  ema.update(m, 1);
  const nn::NamedTensors& e = ema.state();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].first, "w");
  EXPECT_EQ(e[1].first, "running");
  EXPECT_FLOAT_EQ(e[0].second.data()[0], 0.9f * (0.9f * 1 + 0.1f * 3) + 0.1f * 5);  // 1.58
  EXPECT_FLOAT_EQ(e[0].second.data()[1], 0.9f * (0.9f * 2 + 0.1f * 4) + 0.1f * 6);  // 2.58
  EXPECT_FLOAT_EQ(e[1].second.data()[0], 0.9f * (0.9f * 10 + 0.1f * 20) + 0.1f * 30);  // 12.9
  EXPECT_EQ(m.w.data()[0], 5.f) << "the model is not touched";

  // Swapping exchanges the values; twice restores both exactly.
  ema.swap_with(m);
  EXPECT_FLOAT_EQ(m.w.data()[0], 1.58f);
  EXPECT_EQ(ema.state()[0].second.data()[0], 5.f);
  ema.swap_with(m);
  EXPECT_EQ(m.w.data()[0], 5.f);
  EXPECT_FLOAT_EQ(ema.state()[0].second.data()[0], 1.58f);
}

TEST(ModelEma, WarmupDecayIsMinOfDecayAndOnePlusStepOverTenPlusStep) {
  WeightAndBuffer m;
  const nn::ModelEma warm(m, 0.999, true), flat(m, 0.999, false);
  EXPECT_DOUBLE_EQ(warm.decay_at(0), 0.1);
  EXPECT_DOUBLE_EQ(warm.decay_at(8), 0.5);
  EXPECT_DOUBLE_EQ(warm.decay_at(1000), 1001.0 / 1010.0);
  EXPECT_DOUBLE_EQ(warm.decay_at(8991), 0.999);  // (1 + t) / (10 + t) reaches 0.999 at t = 8991
  EXPECT_DOUBLE_EQ(warm.decay_at(100000), 0.999);
  EXPECT_DOUBLE_EQ(flat.decay_at(0), 0.999);
  // The first update with warm-up keeps only 10% of the starting copy.
  nn::ModelEma ema(m, 0.999, true);
  m.set(3, 4, 20);
  ema.update(m, 0);
  EXPECT_FLOAT_EQ(ema.state()[0].second.data()[0], 0.1f * 1 + 0.9f * 3);
}

// Worked by hand against torch.optim.lr_scheduler.ReduceLROnPlateau (threshold 1e-4, rel).
TEST(Plateau, CutsAfterPatiencePlusOneBadEpochsAsPyTorch) {
  nn::PlateauOptions o;
  o.factor = 0.5;
  o.patience = 2;
  nn::ReduceLrOnPlateau rule(o, 1.0);
  EXPECT_FALSE(rule.step(10));      // best 10
  EXPECT_FALSE(rule.step(9));       // best 9
  EXPECT_FALSE(rule.step(9));       // bad 1
  EXPECT_FALSE(rule.step(8.9995));  // not below 9 (1 - 1e-4) = 8.9991: bad 2
  EXPECT_EQ(rule.bad_epochs(), 2);
  EXPECT_TRUE(rule.step(9.5));      // bad 3 > patience: cut, bad back to 0
  EXPECT_DOUBLE_EQ(rule.lr(), 0.5);
  EXPECT_EQ(rule.bad_epochs(), 0);
  EXPECT_FALSE(rule.step(8.5));     // best 8.5 (the best survives the cut)
  EXPECT_FALSE(rule.step(8.6));
  EXPECT_FALSE(rule.step(8.6));
  EXPECT_TRUE(rule.step(8.6));
  EXPECT_DOUBLE_EQ(rule.lr(), 0.25);

  // min_lr floors the cut, and a cut below eps (1e-8) is no cut.
  o.patience = 0;
  o.min_lr = 0.3;
  nn::ReduceLrOnPlateau floor(o, 1.0);
  floor.step(1);
  EXPECT_TRUE(floor.step(1));
  EXPECT_DOUBLE_EQ(floor.lr(), 0.5);
  EXPECT_TRUE(floor.step(1));
  EXPECT_DOUBLE_EQ(floor.lr(), 0.3);
  EXPECT_FALSE(floor.step(1));
  EXPECT_DOUBLE_EQ(floor.lr(), 0.3);

  // Mode max (accuracy): an improvement must exceed best (1 + 1e-4).
  nn::PlateauOptions acc;
  acc.maximize = true;
  acc.patience = 0;
  nn::ReduceLrOnPlateau up(acc, 1.0);
  up.step(0.5);
  EXPECT_TRUE(up.step(0.50004));
  EXPECT_NEAR(up.lr(), 0.1, 1e-12);
  EXPECT_FALSE(up.step(0.6));
}

}  // namespace
}  // namespace hsanet
