// Golden model test (llm.c style): tiny attention models run a few SGD steps in float32 and are
// compared, step by step, with a float64 PyTorch run of the same definitions
// (scripts/make_golden.py wrote tests/golden/*.safetensors): first logits, every step's loss,
// every parameter's gradient and the input's gradient at the first step, and every parameter and
// running statistic after every step, at a bound derived from the first step's agreement and
// float32 rounding (below).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "golden_files.h"
#include "gradcheck.h"
#include "io/checkpoint_io.h"
#include "models/resnet.h"
#include "nn/optimizer.h"

namespace hsanet {
namespace {

using testing::as_double;
using testing::golden_path;

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesFloat64PyTorchStepByStep) {
  const io::SafeTensorsFile f = io::read_safetensors(golden_path(GetParam()));
  const auto optim = nlohmann::json::parse(f.metadata.at("optimizer"));
  const models::ModelConfig cfg = testing::golden_model_config(f);
  auto model = models::build_model(cfg);

  // Initial weights: the file's, which are exactly float32 values.
  io::SafeTensorsFile weights;
  for (const auto& [name, rec] : f.tensors)
    if (!name.starts_with("golden.")) weights.tensors.emplace(name, rec);
  io::load_state_dict(weights, GetParam(), model->state_dict(), /*strict=*/true);

  Tensor x_nchw = f.at("golden.input").to_float_tensor();
  x_nchw.set_requires_grad(true);
  std::vector<int32_t> labels;
  for (int64_t l : f.at("golden.labels").to_int64()) labels.push_back(static_cast<int32_t>(l));
  const std::vector<double> losses = as_double(f.at("golden.losses"));

  nn::SGD opt(model->named_parameters(), {.lr = optim["lr"].get<float>(),
                                          .momentum = optim["momentum"].get<float>(),
                                          .weight_decay = optim["weight_decay"].get<float>()});
  // The first step's gradients agree to gerr (asserted below); through SGD with momentum m, an
  // error of gerr in every step's gradient moves a parameter by at most
  // lr * gerr * sum_{j<=k} sum_{i<=j} m^i after step k. On top of that, the float32 updates
  // round once per step each for the momentum buffer and the parameter: 2 eps |p| per step.
  // Running statistics are means and variances over the batch, each as exact as the activations
  // they average (relative 1e-4, as the logits), mixed into the running value every step.
  const double lr = optim["lr"].get<double>(), m = optim["momentum"].get<double>();
  const double eps = std::numeric_limits<float>::epsilon();
  std::map<std::string, double> gerr;  // per parameter
  for (auto& [name, p] : model->named_parameters()) {
    double scale = 0;
    for (double v : as_double(f.at("golden.grad." + name))) scale = std::max(scale, std::fabs(v));
    gerr[name] = 1e-4 * scale + 1e-6;
  }
  double worst_ratio = 0;
  auto check_state = [&](size_t step, const std::string& prefix) {
    double momentum_sum = 0;
    for (size_t j = 0; j <= step; ++j)
      for (size_t i = 0; i <= j; ++i) momentum_sum += std::pow(m, static_cast<double>(i));
    for (auto& [name, t] : model->state_dict()) {
      const std::vector<double> ref = as_double(f.at(prefix + name));
      const std::vector<float> got = t.to_vector();
      double scale = 0;
      for (double v : ref) scale = std::max(scale, std::fabs(v));
      const bool param = gerr.count(name) != 0;
      double worst = 0;
      size_t at = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        const double tol = param ? lr * gerr[name] * momentum_sum + 2 * eps * (step + 1) * std::fabs(ref[i])
                                 : 1e-4 * (step + 1) * scale + 1e-7;
        const double ratio = std::fabs(got[i] - ref[i]) / tol;
        if (ratio > worst) worst = ratio, at = i;
      }
      EXPECT_LE(worst, 1.0) << GetParam() << " after step " << step << ": " << name << "[" << at << "] = " << got[at]
                            << ", PyTorch " << ref[at];
      worst_ratio = std::max(worst_ratio, worst);
    }
  };

  model->train();
  for (size_t step = 0; step < losses.size(); ++step) {
    opt.zero_grad();
    x_nchw.zero_grad();
    Tensor x = transpose(transpose(x_nchw, 1, 3), 1, 2);  // NCHW -> NHWC
    Tensor logits = (*model)(x);
    Tensor loss = cross_entropy(logits, labels);
    loss.backward();
    EXPECT_NEAR(loss.item(), losses[step], 2e-4 + 2e-4 * std::fabs(losses[step])) << "step " << step;
    if (step == 0) {
      const std::vector<double> ref = as_double(f.at("golden.logits"));
      testing::expect_close(logits.to_vector(), ref, 1e-4, 1e-3, GetParam() + " logits");
      testing::expect_close(x_nchw.grad().to_vector(), as_double(f.at("golden.input_grad")), 1e-5,
                            5e-3, GetParam() + " input gradient");
      for (auto& [name, p] : model->named_parameters()) {
        const std::vector<double> g = as_double(f.at("golden.grad." + name));
        double scale = 0;
        for (double v : g) scale = std::max(scale, std::fabs(v));
        testing::expect_close(p.grad().to_vector(), g, 1e-4 * scale + 1e-6, 5e-3,
                              GetParam() + " gradient of " + name);
      }
    }
    opt.step();
    // Every parameter and running statistic after every step, element by element.
    check_state(step, step + 1 < losses.size() ? "golden.step" + std::to_string(step) + "." : "golden.final.");
  }
  std::printf("%s: largest error over all steps, as a fraction of its bound: %.3g\n", GetParam().c_str(), worst_ratio);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Golden,
                         ::testing::Values("tiny_hsanet_3x3", "tiny_hsanet_x", "tiny_botnet_local"));

}  // namespace
}  // namespace hsanet
