// The four networks: shapes, parameter counts against the contract's table, summaries, names.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "autograd/random.h"
#include "models/resnet.h"
#include "nn/summary.h"

namespace hsanet {
namespace {

models::ModelConfig config(const std::string& name, int h = 224, int w = 224) {
  models::ModelConfig c;
  c.name = name;
  c.height = h;
  c.width = w;
  return c;
}

TEST(Models, ParameterCountsMatchTheContract) {
  const std::pair<const char*, int64_t> table[] = {{"resnet50", 23561306},
                                                   {"botnet50", 18856282},
                                                   {"hsanet_x", 18856282},
                                                   {"hsanet_3x3", 25937242}};
  for (auto [name, count] : table) {
    auto m = models::build_model(config(name));
    EXPECT_EQ(m->num_parameters(), count) << name;
  }
}

TEST(Models, WeightNamesAndShapesFollowTheContract) {
  auto m = models::build_model(config("hsanet_3x3"));
  std::map<std::string, Shape> shapes;
  for (auto& [n, t] : m->state_dict()) shapes[n] = t.shape();
  EXPECT_EQ(shapes.at("conv1.weight"), (Shape{64, 3, 7, 7}));
  EXPECT_EQ(shapes.at("bn1.running_var"), (Shape{64}));
  EXPECT_EQ(shapes.at("layer1.0.downsample.0.weight"), (Shape{256, 64, 1, 1}));
  EXPECT_EQ(shapes.at("layer1.0.downsample.1.weight"), (Shape{256}));
  EXPECT_EQ(shapes.at("layer3.5.conv2.weight"), (Shape{256, 256, 3, 3}));
  EXPECT_EQ(shapes.at("layer4.0.mhsa.qkv.weight"), (Shape{1536, 512, 1, 1}));
  EXPECT_EQ(shapes.at("layer4.0.mhsa.rel_pos.rel_height"), (Shape{27, 128}));
  EXPECT_EQ(shapes.at("layer4.1.mhsa.rel_pos.rel_width"), (Shape{13, 128}));
  EXPECT_EQ(shapes.at("layer4.2.conv_b.weight"), (Shape{512, 512, 3, 3}));
  EXPECT_EQ(shapes.at("layer4.2.bn_b.running_mean"), (Shape{512}));
  EXPECT_EQ(shapes.at("fc.weight"), (Shape{26, 2048}));
  EXPECT_EQ(shapes.count("layer4.0.conv2.weight"), 0u);
  auto r = models::build_model(config("resnet50"));
  std::set<std::string> names;
  for (auto& [n, t] : r->state_dict()) names.insert(n);
  EXPECT_EQ(names.size(), 267u);  // torchvision resnet50: 161 parameters + 106 BN buffers (num_batches_tracked aside)
}

TEST(Models, InitialisationFollowsTorchvision) {
  manual_seed(3);
  auto m = models::build_model(config("hsanet_x", 64, 64));
  for (auto& [n, t] : m->state_dict()) {
    const std::vector<float> v = t.to_vector();
    double s2 = 0;
    for (float x : v) s2 += x * x;
    const double rms = std::sqrt(s2 / v.size());
    if (n == "conv1.weight") EXPECT_NEAR(rms, std::sqrt(2.0 / (64 * 49)), 0.003) << n;
    if (n == "layer4.0.mhsa.rel_pos.rel_height") EXPECT_NEAR(rms, 1.0 / std::sqrt(128.0), 0.01) << n;
    if (n.ends_with("bn2.weight") || n.ends_with("running_var")) EXPECT_EQ(rms, 1.0) << n;
    if (n.ends_with("bn2.bias") || n.ends_with("running_mean")) EXPECT_EQ(rms, 0.0) << n;
  }
}

TEST(Models, ForwardShapesSquareAndNonSquare) {
  NoGradGuard no_grad;
  Rng rng(1);
  for (const char* name : {"resnet50", "botnet50", "hsanet_x", "hsanet_3x3"}) {
    for (auto [h, w] : {std::pair{224, 224}, std::pair{160, 96}}) {
      models::ModelConfig c = config(name, h, w);
      c.width_mult = 0.25;  // keeps the test quick; the structure is the same
      auto m = models::build_model(c);
      m->eval();
      Tensor y = (*m)(Tensor::randn({2, h, w, 3}, rng));
      EXPECT_EQ(y.shape(), (Shape{2, 26})) << name << " " << h << "x" << w;
      for (float v : y.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
    }
  }
}

TEST(Models, OddMapsAndLocalAttention) {
  // 112x112: layer4 sees 7x7 then 4x4 (ceil-mode pooling keeps the branches in step).
  Rng rng(2);
  for (const char* attention : {"global", "local"}) {
    models::ModelConfig c = config("hsanet_3x3", 112, 112);
    c.width_mult = 0.125;
    c.attention = attention;
    c.window = 3;
    c.attention_stages = {3, 4};
    auto m = models::build_model(c);
    Tensor x = Tensor::randn({2, 112, 112, 3}, rng);
    Tensor loss = cross_entropy((*m)(x), {0, 5});
    loss.backward();
    for (auto& [n, p] : m->named_parameters()) ASSERT_TRUE(p.grad().defined()) << n;
  }
}

TEST(Models, BadConfigurationsAreRefused) {
  EXPECT_THROW(models::build_model(config("resnet51")), std::invalid_argument);
  models::ModelConfig c = config("botnet50");
  c.attention = "local";
  c.window = 4;
  EXPECT_THROW(models::build_model(c), std::invalid_argument);
  c = config("botnet50");
  c.heads = 3;  // 3 does not divide 512... widths are rounded to multiples of heads, so fine
  EXPECT_NO_THROW(models::build_model(c));
  auto m = models::build_model(config("botnet50", 64, 64));
  NoGradGuard no_grad;
  EXPECT_THROW((*m)(Tensor::zeros({1, 96, 96, 3})), std::invalid_argument);  // tables fixed at 64
}

TEST(Summary, ReproducesTheContractsTable) {
  // params MB = params * 4 / 2^20; ResNet-50's fwd/bwd pass size is torchsummary's 286.55 MB.
  const std::tuple<const char*, double> rows[] = {
      {"resnet50", 89.88}, {"botnet50", 71.93}, {"hsanet_x", 71.93}, {"hsanet_3x3", 98.94}};
  for (auto [name, mb] : rows) {
    auto m = models::build_model(config(name));
    nn::ModelSummary s = nn::summarize(*m, 224, 224);
    EXPECT_NEAR(s.params_mb, mb, 0.005) << name;
    if (std::string(name) == "resnet50") {
      EXPECT_NEAR(s.fwd_bwd_mb, 286.55, 0.005);
      EXPECT_NEAR(s.gflops, 8.2, 0.1);  // 4.1 G multiply-adds
    }
    EXPECT_GT(s.layers.size(), 100u);
  }
}

}  // namespace
}  // namespace hsanet
