// explain.h's maps against double-precision references: the attention maps are the forward's
// softmax rows (sum to 1, equal to ops/attention_ref.h in double from the same q, k, v and
// tables), and Grad-CAM's channel weights and map match the class logit's gradient taken by
// central differences and, at the last stage, the closed form fc.weight[c] / cells.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/train/explain.h"
#include "autograd/node.h"
#include "base/random.h"
#include "models/mhsa.h"
#include "models/resnet.h"
#include "ops/attention_ref.h"

namespace hsanet::train {
namespace {

Tensor test_input(const Shape& shape, int seed) {
  Tensor x = Tensor::empty(shape);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data()[i] = static_cast<float>(((i * 37 + seed * 11) % 101) / 101.0 - 0.5);
  return x;
}

// The MHSA's hooked probabilities against the scalar reference in double, for global and local.
void check_probs_against_reference(int window) {
  Rng init(5);
  const int C = 16, H = 5, W = 4, heads = 2;  // a non-square map
  models::MHSA mhsa(C, H, W, heads, window, init);
  mhsa.eval();
  const Tensor t = test_input({1, H, W, C}, 1);  // [1, H, W, C]
  NoGradGuard no_grad;
  const Tensor plain = mhsa(t);  // [1, H, W, C]
  Tensor probs;  // [1, heads, H*W, keys]
  mhsa.probs_hook = [&](const Tensor& p) { probs = p.clone(); };
  const Tensor hooked = mhsa(t);
  mhsa.probs_hook = nullptr;
  // The hook changes nothing of the output.
  ASSERT_EQ(plain.to_vector(), hooked.to_vector());

  ops::AttentionDims dims;
  dims.height = H;
  dims.width = W;
  dims.heads = heads;
  dims.head_dim = C / heads;
  dims.window = window;
  dims.ld = 3 * C;
  ASSERT_EQ(probs.shape(), (Shape{1, heads, H * W, dims.keys()}));
  const std::vector<float> qkv = (*mhsa.qkv)(t).to_vector();  // [1, H, W, 3C]
  const std::vector<double> qkv_d(qkv.begin(), qkv.end());
  const std::vector<float> rh = mhsa.rel_pos->rel_height.to_vector(), rw = mhsa.rel_pos->rel_width.to_vector();
  const std::vector<double> rh_d(rh.begin(), rh.end()), rw_d(rw.begin(), rw.end());
  std::vector<double> out(static_cast<size_t>(H) * W * C), ref(dims.probs_size());  // [1, N, C], [1, heads, N, keys]
  ops::ref::attention_forward<double>(dims, qkv_d.data(), qkv_d.data() + C, qkv_d.data() + 2 * C, rh_d.data(),
                                      rw_d.data(), out.data(), ref.data());
  const float* p = probs.data();
  for (int64_t row = 0; row < int64_t(heads) * H * W; ++row) {
    double sum = 0;
    for (int m = 0; m < dims.keys(); ++m) {
      const int64_t i = row * dims.keys() + m;
      EXPECT_NEAR(p[i], ref[i], 1e-5) << "row " << row << " key " << m;
      sum += p[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << row;
  }
}

TEST(ExplainAttention, MapsAreTheForwardsSoftmaxRowsGlobal) { check_probs_against_reference(0); }
TEST(ExplainAttention, MapsAreTheForwardsSoftmaxRowsLocal) { check_probs_against_reference(3); }

models::ModelConfig tiny(const std::string& name, int height, int width, const std::string& attention = "global") {
  models::ModelConfig cfg;
  cfg.name = name;
  cfg.num_classes = 5;
  cfg.height = height;
  cfg.width = width;
  cfg.width_mult = 0.0625;
  cfg.blocks = {1, 1, 1, 2};
  cfg.attention = attention;
  cfg.window = 3;
  return cfg;
}

// Through the model: each query's map is its softmax row laid over the map's cells.
void check_model_maps(const std::string& attention) {
  auto model = models::build_model(tiny("hsanet_x", 128, 96, attention), /*seed=*/7);
  model->eval();
  const Tensor x = test_input({1, 128, 96, 3}, 2);
  EXPECT_EQ(attention_layer_names(*model), (std::vector<std::string>{"layer4.0.mhsa", "layer4.1.mhsa"}));
  EXPECT_EQ(attention_layer_for(*model, "layer4"), "layer4.1.mhsa");
  EXPECT_EQ(attention_layer_for(*model, "layer4.0"), "layer4.0.mhsa");
  const AttentionMaps a = attention_maps(*model, x, "layer4.0.mhsa");
  ASSERT_EQ(a.rows, 8);  // the first block attends over the 16x stride map, before its pool
  ASSERT_EQ(a.cols, 6);
  ASSERT_EQ(a.probs.size(), static_cast<size_t>(a.heads) * a.rows * a.cols * a.keys());
  for (int h = 0; h < a.heads; ++h) {
    const MapGrid mean = a.mean_map(h);
    EXPECT_NEAR(std::accumulate(mean.values.begin(), mean.values.end(), 0.0), 1.0, 1e-5);
    for (int y = 0; y < a.rows; ++y)
      for (int x0 = 0; x0 < a.cols; ++x0) {
        const MapGrid q = a.query_map(h, y, x0);
        EXPECT_NEAR(std::accumulate(q.values.begin(), q.values.end(), 0.0), 1.0, 1e-5);
        const float* row = a.probs.data() + (static_cast<size_t>(h) * a.rows * a.cols + y * a.cols + x0) * a.keys();
        for (int ky = 0; ky < a.rows; ++ky)
          for (int kx = 0; kx < a.cols; ++kx) {
            float want = 0;  // global: key slot = cell; local: slot (ky - y + 1, kx - x0 + 1) of the 3x3 window
            if (!a.window)
              want = row[ky * a.cols + kx];
            else if (std::abs(ky - y) <= 1 && std::abs(kx - x0) <= 1)
              want = row[(ky - y + 1) * 3 + (kx - x0 + 1)];
            EXPECT_EQ(q.at(ky, kx), want) << h << " " << y << "," << x0 << " -> " << ky << "," << kx;
          }
      }
  }
  try {
    attention_maps(*model, x, "layer4.0");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("valid: layer4.0.mhsa, layer4.1.mhsa"), std::string::npos) << e.what();
  }
}

TEST(ExplainAttention, ModelMapsLayRowsOverCellsGlobal) { check_model_maps("global"); }
TEST(ExplainAttention, ModelMapsLayRowsOverCellsLocal) { check_model_maps("local"); }

// The class logit as a function of the layer's output, which the hook replaces by `A`.
double logit_with(models::ResNet& model, nn::Module& layer, const Tensor& x, const Tensor& A, int c) {
  layer.output_hook = [&](const Tensor&) { return A; };
  NoGradGuard no_grad;
  const double v = model(x).data()[c];
  layer.output_hook = nullptr;
  return v;
}

nn::Module& module_at(nn::Module& root, const std::string& path) {
  if (root.path() == path) return root;
  for (auto& [name, child] : root.children())
    if (path == child->path() || path.rfind(child->path() + ".", 0) == 0) return module_at(*child, path);
  throw std::logic_error("no module " + path);
}

// Grad-CAM from a reference gradient in double: w_k = mean of dS/dA_k, map = ReLU(sum w A) / max.
// tol: on the weights, relative to the largest; tol_map: on the [0, 1] map.
void expect_cam_matches(const GradCam& cam, const Tensor& A, const std::vector<double>& grad, double tol,
                        double tol_map) {
  const int cells = static_cast<int>(A.size(1) * A.size(2)), C = static_cast<int>(A.size(3));
  std::vector<double> w(C, 0.0), map(cells, 0.0);
  for (int i = 0; i < cells; ++i)
    for (int k = 0; k < C; ++k) w[k] += grad[static_cast<size_t>(i) * C + k] / cells;
  double top = 0;
  for (int i = 0; i < cells; ++i) {
    for (int k = 0; k < C; ++k) map[i] += w[k] * A.data()[static_cast<size_t>(i) * C + k];
    map[i] = std::max(0.0, map[i]);
    top = std::max(top, map[i]);
  }
  ASSERT_GT(top, 0);
  double wmax = 0;
  for (double v : w) wmax = std::max(wmax, std::abs(v));
  for (int k = 0; k < C; ++k) EXPECT_NEAR(cam.weights[k], w[k], tol * wmax) << "channel " << k;
  for (int i = 0; i < cells; ++i) EXPECT_NEAR(cam.map.values[i], map[i] / top, tol_map) << "cell " << i;
}

// The layer's output for this input.
Tensor output_of(models::ResNet& model, nn::Module& layer, const Tensor& x) {
  Tensor A;
  layer.output_hook = [&](const Tensor& y) { return A = y.clone(); };
  NoGradGuard no_grad;
  model(x);
  layer.output_hook = nullptr;
  return A;
}

TEST(ExplainGradCam, LastStageMatchesClosedForm) {
  for (const std::string name : {"resnet50", "hsanet_3x3"}) {
    auto model = models::build_model(tiny(name, 96, 64), /*seed=*/11);
    model->eval();
    const Tensor x = test_input({1, 96, 64, 3}, 3);
    const int c = 2;
    const GradCam cam = grad_cam(*model, x, "layer4", c);
    EXPECT_EQ(cam.class_index, c);
    const Tensor A = output_of(*model, module_at(*model, "layer4"), x);  // [1, 3, 2, C]
    ASSERT_EQ(cam.map.rows, 3);
    ASSERT_EQ(cam.map.cols, 2);
    // logit_c = fc.b[c] + sum_k fc.W[c, k] mean_cells A_k, so dS/dA[cell, k] = fc.W[c, k] / cells.
    const int C = static_cast<int>(A.size(3));
    std::vector<double> grad(static_cast<size_t>(6) * C);
    for (int i = 0; i < 6; ++i)
      for (int k = 0; k < C; ++k) grad[static_cast<size_t>(i) * C + k] = model->fc->weight.data()[c * C + k] / 6.0;
    expect_cam_matches(cam, A, grad, 1e-5, 1e-5);
    // Neither the weights nor their gradients were touched.
    for (auto& [n, p] : model->named_parameters()) {
      EXPECT_TRUE(p.requires_grad()) << n;
      EXPECT_FALSE(p.grad().defined()) << n;
    }
  }
}

TEST(ExplainGradCam, InnerLayerMatchesCentralDifferences) {
  for (const std::string layer : {"layer3", "layer4.0"}) {
    auto model = models::build_model(tiny("hsanet_x", 64, 64), /*seed=*/13);
    model->eval();
    const Tensor x = test_input({1, 64, 64, 3}, 4);
    const GradCam pred = grad_cam(*model, x, layer, -1);
    const int c = pred.class_index;
    EXPECT_EQ(c, std::max_element(pred.logits.begin(), pred.logits.end()) - pred.logits.begin());
    nn::Module& m = module_at(*model, layer);
    const Tensor A = output_of(*model, m, x);  // [1, h, w, C]
    std::vector<double> grad(A.numel());
    // The network is float and has ReLU kinks and softmaxes: the differences agree with the
    // gradient to about 1% of the largest weight at this step (10% at 0.1, 3% at 0.03).
    const float eps = 3e-3f;
    for (int64_t i = 0; i < A.numel(); ++i) {
      Tensor up = A.clone(), down = A.clone();
      up.data()[i] += eps;
      down.data()[i] -= eps;
      grad[i] = (logit_with(*model, m, x, up, c) - logit_with(*model, m, x, down, c)) / (2.0 * eps);
    }
    expect_cam_matches(pred, A, grad, 3e-2, 5e-2);
  }
}

TEST(ExplainGradCam, UnknownLayerListsValidNames) {
  auto model = models::build_model(tiny("resnet50", 64, 64), /*seed=*/1);
  model->eval();
  const std::vector<std::string> names = map_layer_names(*model);
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer3.0.conv2"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "fc"), names.end());  // not a feature map
  // Fused into batch norm + ReLU (their hooks never fire), or called three times per block.
  EXPECT_EQ(std::find(names.begin(), names.end(), "layer4.0.bn1"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "layer4.0.relu"), names.end());
  // Every listed name gives a map.
  for (const std::string& n : names) EXPECT_GT(grad_cam(*model, test_input({1, 64, 64, 3}, 0), n, -1).map.rows, 0) << n;
  try {
    grad_cam(*model, test_input({1, 64, 64, 3}, 0), "layer9", -1);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no layer named 'layer9'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer4.0.conv3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hsanet::train
