// scripts/load_hsanet_in_torch.py: a cpu_train checkpoint loaded into the PyTorch definition of
// its model (scripts/torch_models.py) must give hsanet's logits on the same input, for a plain
// ResNet and an attention model; --onnx must write a file. Skips, saying why, without PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "apps/train/checkpoint.h"
#include "autograd/node.h"
#include "io/safetensors.h"
#include "models/resnet.h"
#include "python_finder.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

class TorchExport : public ::testing::TestWithParam<const char*> {};

TEST_P(TorchExport, LogitsMatchHsanet) {
  const std::string py = hsanet::testing::python_with("torch");
  if (py.empty()) GTEST_SKIP() << "PyTorch is not installed (python3 -c 'import torch' fails; apt-get install python3-torch)";
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 3);
  const testing::RunResult r = testing::run_cpu_train(testing::concat(
      {"--data", tmp / "faces", "--out", tmp / "run", "--epochs", "1", "--batch-size", "8", "--threads", "1",
       "--seed", "2", "--model", GetParam()},
      testing::tiny_model_args()));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const std::string ckpt = tmp / "run/last.safetensors";

  // hsanet's logits for a fixed NHWC batch, and the same batch as NCHW for PyTorch.
  const io::SafeTensorsFile file = io::read_safetensors(ckpt);
  const RunIdentity id = read_run_identity(file, ckpt);
  auto model = models::build_model(id.model);
  ASSERT_TRUE(load_model_weights(file, ckpt, *model, /*strict=*/true).complete());
  model->eval();
  const int64_t n = 2, h = id.model.height, w = id.model.width;
  Tensor nhwc = Tensor::empty({n, h, w, 3}), nchw = Tensor::empty({n, 3, h, w});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const float v = std::sin(0.37f * static_cast<float>(((b * h + y) * w + x) * 3 + c));
          nhwc.data()[((b * h + y) * w + x) * 3 + c] = v;
          nchw.data()[((b * 3 + c) * h + y) * w + x] = v;
        }
  Tensor logits;
  {
    NoGradGuard no_grad;
    logits = (*model)(nhwc);
  }
  io::write_safetensors(tmp / "x.safetensors", {{"input", io::TensorRecord::from_tensor(nchw)}});

  const std::string script = testing::source_dir() + "/scripts/load_hsanet_in_torch.py";
  const std::string cmd = py + " " + script + " " + ckpt + " --input " + (tmp / "x.safetensors") +
                          " --logits-out " + (tmp / "y.safetensors") + " --onnx " + (tmp / "m.onnx") + " > " +
                          (tmp / "log.txt") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << testing::slurp(tmp / "log.txt");
  const std::string log = testing::slurp(tmp / "log.txt");
  EXPECT_NE(log.find(std::string(GetParam()) + " (3 classes, 32x32"), std::string::npos) << log;
  EXPECT_NE(log.find("identities: s1, s10, s11"), std::string::npos) << log;

  const std::vector<float> ref = logits.to_vector();
  const std::vector<float> got = io::read_safetensors(tmp / "y.safetensors").at("logits").to_float_tensor().to_vector();
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-4 + 1e-4 * std::fabs(ref[i])) << i;
  EXPECT_GT(fs::file_size(tmp / "m.onnx"), 1000u);
}

INSTANTIATE_TEST_SUITE_P(Models, TorchExport, ::testing::Values("resnet50", "hsanet_3x3"));

TEST(TorchExportErrors, PlainWeightsAreRefusedByName) {
  const std::string py = hsanet::testing::python_with("torch");
  if (py.empty()) GTEST_SKIP() << "PyTorch is not installed (python3 -c 'import torch' fails; apt-get install python3-torch)";
  TempDir tmp;
  Tensor t = Tensor::empty({2});
  t.data()[0] = t.data()[1] = 1;
  io::write_safetensors(tmp / "plain.safetensors", {{"fc.bias", io::TensorRecord::from_tensor(t)}});
  const std::string cmd = py + " " + testing::source_dir() + "/scripts/load_hsanet_in_torch.py " +
                          (tmp / "plain.safetensors") + " > " + (tmp / "log.txt") + " 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  const std::string log = testing::slurp(tmp / "log.txt");
  EXPECT_NE(log.find("plain.safetensors: no 'model_config' in the metadata"), std::string::npos) << log;
}

}  // namespace
}  // namespace hsanet::train
