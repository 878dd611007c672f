// The four networks: shapes, parameter counts against the contract's table, summaries, names.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "autograd/functions_loss.h"
#include "autograd/node.h"
#include "base/random.h"
#include "models/resnet.h"
#include "nn/summary.h"
#include "ops/attention.h"

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
  auto m = models::build_model(config("hsanet_x", 64, 64), /*seed=*/3);
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


// docs/hsa_block.md prints these: one block's parameters, forward FLOPs (convolutions and the
// attention's products; batch norms, pools and adds are not counted) and its share of the
// forward/backward pass size (2 x outputs x 4 bytes / 2^20, torchsummary's measure), at batch 1.
struct BlockCost {
  int64_t params = 0;
  double flops = 0, fwd_bwd_mb = 0;
};

BlockCost block_cost(nn::Module& model, const nn::ModelSummary& s, const std::string& block) {
  const std::string prefix = block + ".";
  BlockCost c;
  for (auto& [n, p] : model.named_parameters())
    if (n.starts_with(prefix)) c.params += p.numel();
  double outputs = 0;
  for (const nn::TraceEntry& e : s.layers)
    if (e.path.starts_with(prefix)) {
      c.flops += e.flops;
      outputs += static_cast<double>(numel(e.output)) / static_cast<double>(e.output[0]);
    }
  c.fwd_bwd_mb = 2.0 * outputs * 4.0 / (1 << 20);
  return c;
}

TEST(Summary, HsaBlockTablesInTheDocs) {
  // "Why HSANet": per block of layer4 (layer4.2 costs what layer4.1 does) and per network.
  struct Row {
    const char* model;
    int64_t params_40, params_41;
    double mflops_40, mflops_41, mb_40, mb_41;  // MFLOPs to 0.1, MB to 0.01 as printed
    double gflops, fwd_bwd_mb;                  // network, to 0.01
  };
  const Row rows[] = {
      {"resnet50", 6039552, 4462592, 745.0, 436.7, 6.70, 3.45, 8.17, 286.55},
      {"botnet50", 4473600, 2893056, 911.6, 288.8, 12.11, 4.17, 8.05, 293.40},
      {"hsanet_x", 4473600, 2893056, 911.6, 288.8, 12.30, 4.17, 8.05, 293.59},
      {"hsanet_3x3", 6833920, 5253376, 1142.8, 520.0, 12.49, 4.55, 8.74, 294.55},
  };
  for (const Row& r : rows) {
    auto m = models::build_model(config(r.model));
    const nn::ModelSummary s = nn::summarize(*m, 224, 224);
    const BlockCost b0 = block_cost(*m, s, "layer4.0"), b1 = block_cost(*m, s, "layer4.1"),
                    b2 = block_cost(*m, s, "layer4.2");
    EXPECT_EQ(b0.params, r.params_40) << r.model;
    EXPECT_EQ(b1.params, r.params_41) << r.model;
    EXPECT_NEAR(b0.flops / 1e6, r.mflops_40, 0.05) << r.model;
    EXPECT_NEAR(b1.flops / 1e6, r.mflops_41, 0.05) << r.model;
    EXPECT_NEAR(b0.fwd_bwd_mb, r.mb_40, 0.005) << r.model;
    EXPECT_NEAR(b1.fwd_bwd_mb, r.mb_41, 0.005) << r.model;
    EXPECT_EQ(b2.params, b1.params) << r.model;
    EXPECT_EQ(b2.flops, b1.flops) << r.model;
    EXPECT_NEAR(s.gflops, r.gflops, 0.005) << r.model;
    EXPECT_NEAR(s.fwd_bwd_mb, r.fwd_bwd_mb, 0.005) << r.model;
  }
}

TEST(Summary, HsaBlockWalkThroughInTheDocs) {
  // "One HSANet(3x3) block, tensor by tensor": layer4.0 at 224x224, per image.
  auto m = models::build_model(config("hsanet_3x3"));
  const nn::ModelSummary s = nn::summarize(*m, 224, 224);
  std::map<std::string, std::pair<int64_t, double>> layer;  // params, MFLOPs
  for (const nn::TraceEntry& e : s.layers) layer[e.path] = {e.params, e.flops / 1e6};
  const std::tuple<const char*, int64_t, double> table[] = {
      {"layer4.0.conv1", 524288, 205.5},   {"layer4.0.mhsa.qkv", 786432, 308.3},
      {"layer4.0.conv_b", 2359296, 231.2}, {"layer4.0.conv3", 1048576, 102.8},
      {"layer4.0.downsample.0", 2097152, 205.5}};
  for (auto [name, params, mflops] : table) {
    ASSERT_TRUE(layer.count(name)) << name;
    EXPECT_EQ(layer[name].first, params) << name;
    EXPECT_NEAR(layer[name].second, mflops, 0.05) << name;
  }
  // The attention's products: q.k and P.v (2 heads N N d each), the relative terms
  // (2 heads N (27 + 27) d), together the MHSA's own FLOPs.
  const double N = 196, d = 128, heads = 4;
  const double qk_pv = 2 * heads * N * N * d * 2, rel = 2 * heads * N * 54 * d;
  EXPECT_NEAR(qk_pv / 1e6, 78.7, 0.05);
  EXPECT_NEAR(rel / 1e6, 10.8, 0.05);
  EXPECT_DOUBLE_EQ(layer.at("layer4.0.mhsa").second, (qk_pv + rel) / 1e6);
  EXPECT_EQ(layer.at("layer4.0.mhsa").first, 0);  // the tables belong to mhsa.rel_pos
  int64_t params = 0, bn = 0;
  for (auto& [n, p] : m->named_parameters())
    if (n.starts_with("layer4.0.")) {
      params += p.numel();
      if (n.find("bn") != std::string::npos || n.find("downsample.1") != std::string::npos)
        bn += p.numel();
    }
  EXPECT_EQ(params, 6833920);
  EXPECT_EQ(bn, 11264);
  int64_t tables = 0;
  for (auto& [n, p] : m->named_parameters())
    if (n.starts_with("layer4.0.mhsa.rel_pos.")) tables += p.numel();
  EXPECT_EQ(tables, 6912);
  tables = 0;
  for (auto& [n, p] : m->named_parameters())
    if (n.starts_with("layer4.1.mhsa.rel_pos.")) tables += p.numel();
  EXPECT_EQ(tables, 3328);  // 13 + 13 rows of 128 at 7x7
  // P, saved for backward: heads x N x N floats per image at 14x14 (0.59 MB of 2^20 bytes),
  // 4 x that for a batch of 4 (2.34 MB); heads x 49 x 49 at 7x7.
  ops::AttentionDims dims;
  dims.batch = 1, dims.height = 14, dims.width = 14, dims.heads = 4, dims.head_dim = 128;
  EXPECT_EQ(dims.probs_size(), 153664);
  EXPECT_NEAR(dims.probs_size() * 4.0 / (1 << 20), 0.59, 0.005);
  dims.batch = 4;
  EXPECT_NEAR(dims.probs_size() * 4.0 / (1 << 20), 2.34, 0.005);
  dims.batch = 1, dims.height = 7, dims.width = 7;
  EXPECT_EQ(dims.probs_size(), 9604);
  // The 3x3 branch: conv_b and bn_b in each of the three blocks.
  auto x = models::build_model(config("hsanet_x"));
  EXPECT_EQ(m->num_parameters() - x->num_parameters(), 3 * (2359296 + 1024));
  EXPECT_EQ(m->num_parameters() - x->num_parameters(), 7080960);
}

}  // namespace
}  // namespace hsanet
