// The ImageNet path: a torchvision resnet50 state dict, written by
// `scripts/export_torch_weights.py --torchvision resnet50`, starts all four models.
// tests/make_torchvision_state.py makes the state dict with torchvision's names and shapes (no
// download): with PyTorch through the user's path (torch.save, then the script); without it
// through the script's own name check and writer. Every tensor of each model that is neither the
// head nor attention must load, bit for bit; the 1000-class fc.* is skipped (shape differs).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "apps/train/init_listing.h"
#include "base/random.h"
#include "models/resnet.h"
#include "python_finder.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;

// Runs the helper; returns its first line ("mode: ..."), or "" when it failed.
std::string make_export(const std::string& py, const std::string& dir, const std::string& out) {
  const std::string src = testing::source_dir();
  const std::string cmd = py + " " + src + "/tests/make_torchvision_state.py " + src + "/scripts " + dir + " " + out +
                          " > " + dir + "/make.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "make_torchvision_state.py failed:\n" << testing::slurp(dir + "/make.log");
    return "";
  }
  const std::string log = testing::slurp(dir + "/make.log");
  return log.substr(0, log.find('\n'));
}

bool head_or_attention(const std::string& name) {
  return name.rfind("fc.", 0) == 0 || name.find(".mhsa.") != std::string::npos;
}

TEST(TorchvisionImport, EveryNonHeadTensorLoadsIntoAllFourModels) {
  const std::string py = hsanet::testing::python_with("json");
  if (py.empty()) GTEST_SKIP() << "no python3 to run scripts/export_torch_weights.py";
  TempDir tmp;
  const std::string file = tmp / "resnet50_torchvision.safetensors";
  const std::string mode = make_export(py, tmp.path().string(), file);
  ASSERT_FALSE(mode.empty());
  std::printf("%s\n", mode.c_str());
  const io::SafeTensorsFile source = io::read_safetensors(file);

  for (const char* name : {"resnet50", "botnet50", "hsanet_x", "hsanet_3x3"}) {
    SCOPED_TRACE(name);
    models::ModelConfig mc;
    mc.name = name;
    mc.height = mc.width = 64;
    mc.num_classes = 5;
    auto model = models::build_model(mc, /*seed=*/1);
    const InitListing l = init_from_weights(source, file, *model);
    std::map<std::string, Tensor> mine;
    int backbone = 0;  // the model's tensors that are neither head nor attention
    for (const auto& [n, t] : model->state_dict()) {
      mine.emplace(n, t);
      backbone += !head_or_attention(n);
    }
    EXPECT_EQ(l.count("loaded"), backbone);
    EXPECT_EQ(l.count("fresh", "shape differs"), 2);  // fc.weight [1000, 2048], fc.bias [1000]
    EXPECT_EQ(l.count("unused"), std::string(name) == "botnet50" || std::string(name) == "hsanet_x" ? 3 : 0)
        << "layer4's conv2 has no place in a model without the 3x3 branch";
    for (const InitEntry& e : l.tensors) {
      if (e.status == "fresh") EXPECT_TRUE(head_or_attention(e.name)) << e.name << " was not loaded";
      if (e.status != "loaded") continue;
      const Tensor f = source.at(e.from.empty() ? e.name : e.from).to_float_tensor();
      const Tensor& t = mine.at(e.name);
      ASSERT_EQ(f.shape(), t.shape()) << e.name;
      EXPECT_EQ(std::memcmp(f.data(), t.data(), sizeof(float) * t.numel()), 0) << e.name << " differs";
    }
  }

  // The program: a full-width HSANet(x) run from the export lists the same.
  testing::copy_faces(tmp / "faces", 3);
  const auto r = testing::run_cpu_train({"--data", tmp / "faces", "--out", tmp / "ft", "--model", "hsanet_x",
                                         "--img-size", "32", "--epochs", "1", "--batch-size", "4",
                                         "--limit-batches", "1", "--threads", "1", "--init-from", file});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(tmp / "ft/init_from.json"));
  EXPECT_EQ(j.at("counts").at("fresh"), 2 + 3 * 3) << "fc.*, and qkv, rel_height, rel_width per layer4 block";
  EXPECT_EQ(j.at("counts").at("fresh_shape_differs"), 2);
  EXPECT_EQ(j.at("counts").at("unused"), 3);
}

}  // namespace
}  // namespace hsanet::train
