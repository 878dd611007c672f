// Fine-tuning (docs/finetuning.md):
//  - --init-from a ResNet-50 checkpoint into each of the four models: the listing's counts, and
//    every loaded tensor equal to its source bit for bit (HSANet(3x3)'s 3x3 branch from conv2/bn2);
//  - parameter groups: an SGD step by hand with a second group's lr multiplier;
//  - --freeze-epochs: the loaded parameters are bitwise unchanged through the frozen epoch and
//    move after it, across --resume; --lr-pretrained-mult 0 keeps them as loaded, across --resume;
//  - both options refuse a run that loads nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/train/init_listing.h"
#include "apps/train/pretrained_groups.h"
#include "base/random.h"
#include "io/checkpoint_io.h"
#include "models/resnet.h"
#include "nn/optimizer.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

bool same_bits(const io::TensorRecord& r, const Tensor& t) {
  const Tensor f = r.to_float_tensor();
  return f.shape() == t.shape() && std::memcmp(f.data(), t.data(), sizeof(float) * t.numel()) == 0;
}

models::ModelConfig tiny(const std::string& name, int classes) {
  models::ModelConfig mc;
  mc.name = name;
  mc.width_mult = 0.25;
  mc.height = mc.width = 32;
  mc.num_classes = classes;
  return mc;
}

TEST(FineTuneInit, ResNetCheckpointIntoEachModel) {
  TempDir tmp;
  auto resnet = models::build_model(tiny("resnet50", 10), /*seed=*/3);
  const std::string file = tmp / "resnet.safetensors";
  io::save_state_dict(file, resnet->state_dict());
  const io::SafeTensorsFile source = io::read_safetensors(file);
  const int R = static_cast<int>(resnet->state_dict().size());
  const int blocks4 = 3;  // layer4's bottlenecks: each swaps conv2 for mhsa (qkv, rel_height, rel_width)

  struct Want {
    const char* model;
    int loaded, fresh, unused, renamed;
  };
  const Want wants[] = {
      {"resnet50", R - 2, 2, 0, 0},                                    // fc.* only
      {"botnet50", R - 2 - blocks4, 2 + 3 * blocks4, blocks4, 0},       // conv2 unused
      {"hsanet_x", R - 2 - blocks4, 2 + 3 * blocks4, blocks4, 0},
      {"hsanet_3x3", R - 2 - blocks4 + 5 * blocks4, 2 + 3 * blocks4, 0, 5 * blocks4},  // conv_b, bn_b.* from conv2, bn2
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.model);
    auto model = models::build_model(tiny(w.model, 4), /*seed=*/4);
    const InitListing l = init_from_weights(source, file, *model);
    EXPECT_EQ(l.count("loaded"), w.loaded);
    EXPECT_EQ(l.count("fresh"), w.fresh);
    EXPECT_EQ(l.count("fresh", "shape differs"), 2);  // fc.weight, fc.bias: 10 classes -> 4
    EXPECT_EQ(l.count("unused"), w.unused);
    int renamed = 0;
    std::map<std::string, Tensor> mine;
    for (const auto& [name, t] : model->state_dict()) mine.emplace(name, t);
    EXPECT_EQ(l.count("loaded") + l.count("fresh"), static_cast<int>(mine.size()));
    for (const InitEntry& e : l.tensors) {
      if (e.status == "fresh") {
        const bool attention = e.name.find(".mhsa.") != std::string::npos;
        EXPECT_TRUE(attention || e.name.rfind("fc.", 0) == 0) << e.name << " should have come from the file";
      }
      if (e.status != "loaded") continue;
      renamed += !e.from.empty();
      const std::string src = e.from.empty() ? e.name : e.from;
      ASSERT_TRUE(source.contains(src)) << src;
      EXPECT_TRUE(same_bits(source.at(src), mine.at(e.name))) << e.name << " differs from " << src;
    }
    EXPECT_EQ(renamed, w.renamed);
    const nlohmann::json j = init_listing_json(l);
    EXPECT_EQ(j.at("counts").at("loaded"), w.loaded);
    EXPECT_EQ(j.at("tensors").size(), l.tensors.size());
  }
}

TEST(FineTuneInit, FrozenBatchNormsAreThoseAfterALoadedConvolution) {
  // HSANet(3x3) from a ResNet-50 file: every loaded batch norm after a loaded convolution stays on
  // its statistics (the 3x3 branch's bn_b too, loaded from bn2 after conv_b from conv2), but not
  // the attention blocks' bn2, which normalises the fresh attention's output: frozen on a plain
  // bottleneck's statistics, that sum diverged within 15 steps of fine-tuning.
  TempDir tmp;
  auto resnet = models::build_model(tiny("resnet50", 10), /*seed=*/3);
  const std::string file = tmp / "resnet.safetensors";
  io::save_state_dict(file, resnet->state_dict());
  auto model = models::build_model(tiny("hsanet_3x3", 4), /*seed=*/4);
  const InitListing l = init_from_weights(io::read_safetensors(file), file, *model);
  std::set<std::string> frozen;
  for (const nn::BatchNorm2d* bn : pretrained_batch_norms(*model, l.loaded_names())) frozen.insert(bn->path());
  for (const char* p : {"bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.0.bn3", "layer1.0.downsample.1",
                        "layer4.0.bn1", "layer4.0.bn_b", "layer4.0.bn3", "layer4.0.downsample.1"})
    EXPECT_TRUE(frozen.count(p)) << p;
  for (const char* p : {"layer4.0.bn2", "layer4.1.bn2", "layer4.2.bn2"}) EXPECT_FALSE(frozen.count(p)) << p;
  int bns = 0;
  nn::for_each_module(*model, [&](nn::Module& m) { bns += dynamic_cast<nn::BatchNorm2d*>(&m) != nullptr; });
  EXPECT_EQ(static_cast<int>(frozen.size()), bns - 3);
}

// Two parameters, the second in a group at lr x 0.1: one SGD step with momentum and weight decay,
// checked against the formula (first step: buf = g + wd p; p -= lr_group * buf).
TEST(FineTuneGroups, SgdStepUsesEachGroupsLr) {
  Tensor a = Tensor::from_vector({1.f, -2.f}, {2}).set_requires_grad();
  Tensor b = Tensor::from_vector({3.f, 0.5f}, {2}).set_requires_grad();
  a.set_grad(Tensor::from_vector({0.5f, 0.25f}, {2}));
  b.set_grad(Tensor::from_vector({-1.f, 2.f}, {2}));
  nn::SGD sgd({{"a", a}, {"b", b}}, {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f});
  sgd.set_lr_scales({1.f, 0.1f});
  sgd.step();
  const float wd = 0.01f;
  EXPECT_FLOAT_EQ(a.to_vector()[0], 1.f - 0.1f * (0.5f + wd * 1.f));
  EXPECT_FLOAT_EQ(a.to_vector()[1], -2.f - 0.1f * (0.25f + wd * -2.f));
  EXPECT_FLOAT_EQ(b.to_vector()[0], 3.f - 0.01f * (-1.f + wd * 3.f));
  EXPECT_FLOAT_EQ(b.to_vector()[1], 0.5f - 0.01f * (2.f + wd * 0.5f));
  EXPECT_THROW(sgd.set_lr_scales({1.f}), std::invalid_argument);
}

// AdamW's decoupled decay uses the group's lr too: with a zero gradient the moments stay zero and
// the step is p *= 1 - lr_group * wd.
TEST(FineTuneGroups, AdamWDecayUsesEachGroupsLr) {
  Tensor a = Tensor::from_vector({2.f}, {1}).set_requires_grad();
  Tensor b = Tensor::from_vector({2.f}, {1}).set_requires_grad();
  a.set_grad(Tensor::from_vector({0.f}, {1}));
  b.set_grad(Tensor::from_vector({0.f}, {1}));
  nn::AdamW adamw({{"a", a}, {"b", b}}, {.lr = 0.1f, .weight_decay = 0.5f});
  adamw.set_lr_scales({1.f, 0.25f});
  adamw.step();
  EXPECT_FLOAT_EQ(a.to_vector()[0], 2.f * (1.f - 0.1f * 0.5f));
  EXPECT_FLOAT_EQ(b.to_vector()[0], 2.f * (1.f - 0.025f * 0.5f));
}

// A weights file from a one-epoch tiny ResNet-50 run on four identities; the fine-tuning runs
// train on three, so the head (fc.*) is created fresh and trains from the first epoch.
class FineTuneRun : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::copy_faces(tmp / "faces4", 4);
    testing::copy_faces(tmp / "faces", 3);
    const auto r = testing::run_cpu_train(args(tmp / "pre", {"--epochs", "1"}, "faces4"));
    ASSERT_EQ(r.code, 0) << r.err;
    weights = tmp / "pre/best.safetensors";
  }
  std::vector<std::string> args(const std::string& run, std::vector<std::string> extra,
                                const std::string& data = "faces") {
    auto a = testing::concat({"--data", tmp / data, "--out", run, "--batch-size", "8", "--lr", "0.02",
                              "--threads", "1", "--seed", "5"},
                             testing::tiny_model_args());
    return testing::concat(a, extra);
  }
  // Model parameters of `checkpoint` that equal (or not) the pretrained file's, by name.
  std::pair<int, int> same_and_changed(const std::string& checkpoint, const std::string& prefix_not = "fc.") {
    const io::SafeTensorsFile pre = io::read_safetensors(weights), now = io::read_safetensors(checkpoint);
    int same = 0, changed = 0;
    for (const auto& [name, rec] : now.tensors) {
      if (name.rfind("optimizer.", 0) == 0 || name.rfind(prefix_not, 0) == 0 || !pre.contains(name)) continue;
      if (name.find("running_") != std::string::npos) continue;  // buffers: batch norm keeps updating them
      (rec.bytes == pre.at(name).bytes ? same : changed)++;
    }
    return {same, changed};
  }
  TempDir tmp;
  std::string weights;
};

TEST_F(FineTuneRun, FrozenEpochKeepsLoadedTensorsAndResumeUnfreezes) {
  const std::string run = tmp / "ft";
  auto r = testing::run_cpu_train(args(run, {"--init-from", weights, "--epochs", "2", "--freeze-epochs", "1",
                                             "--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("frozen for the first 1 epochs"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(run + "/init_from.json"));
  const nlohmann::json listing = nlohmann::json::parse(testing::slurp(run + "/init_from.json"));
  EXPECT_EQ(listing.at("source"), weights);
  EXPECT_EQ(listing.at("counts").at("fresh"), 2) << "4 classes -> 3: fc.weight and fc.bias";
  EXPECT_EQ(listing.at("counts").at("unused"), 0);
  auto [same, changed] = same_and_changed(run + "/last.safetensors");
  EXPECT_GT(same, 10);
  EXPECT_EQ(changed, 0) << "a frozen parameter moved during the frozen epoch";
  // Batch norm stays in training mode: its running statistics follow the new data.
  const io::SafeTensorsFile pre = io::read_safetensors(weights), after = io::read_safetensors(run + "/last.safetensors");
  EXPECT_NE(pre.at("bn1.running_mean").bytes, after.at("bn1.running_mean").bytes);

  r = testing::run_cpu_train({"--resume", run, "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 2: the pretrained parameters are unfrozen"), std::string::npos) << r.out;
  std::tie(same, changed) = same_and_changed(run + "/last.safetensors");
  EXPECT_GT(changed, 10) << "the second epoch trains the pretrained parameters";
  const nlohmann::json report = nlohmann::json::parse(testing::slurp(run + "/report.json"));
  EXPECT_EQ(report.at("init_from"), weights);
  EXPECT_NE(testing::slurp(run + "/report.html").find("started from " + weights), std::string::npos);
}

TEST_F(FineTuneRun, PretrainedMultiplierZeroKeepsLoadedTensors) {
  const std::string run = tmp / "mult";
  auto r = testing::run_cpu_train(args(run, {"--init-from", weights, "--epochs", "2", "--lr-pretrained-mult", "0",
                                             "--warmup-steps", "2", "--sched", "step", "--step-size", "1",
                                             "--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train({"--resume", run, "--threads", "1"});  // the group must survive it
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("lr x 0"), std::string::npos) << r.out;
  auto [same, changed] = same_and_changed(run + "/last.safetensors");
  EXPECT_GT(same, 10);
  EXPECT_EQ(changed, 0);
  const io::SafeTensorsFile pre = io::read_safetensors(weights), after = io::read_safetensors(run + "/last.safetensors");
  EXPECT_NE(pre.at("fc.weight").bytes, after.at("fc.weight").bytes) << "the head is a group of its own";
  r = testing::run_cpu_train(args(tmp / "none", {"--epochs", "1", "--freeze-epochs", "1"}));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("start it with --init-from"), std::string::npos) << r.err;
}

TEST_F(FineTuneRun, FrozenBatchNormKeepsTheLoadedStatisticsThroughAResume) {
  // --freeze-bn: the loaded batch norms normalise with the loaded statistics and keep them, also
  // after a resume (the option is in config.json, the loaded names in init_from.json); their
  // weights still train, and so does everything else.
  const std::string run = tmp / "frozen_bn";
  auto r = testing::run_cpu_train(args(run, {"--init-from", weights, "--epochs", "2", "--freeze-bn",
                                             "--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("their batch norms on the loaded statistics"), std::string::npos) << r.out;
  r = testing::run_cpu_train({"--resume", run, "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  const io::SafeTensorsFile pre = io::read_safetensors(weights), after = io::read_safetensors(run + "/last.safetensors");
  int stats = 0;
  for (const auto& [name, rec] : after.tensors)
    if (name.find("running_") != std::string::npos && pre.contains(name)) {
      EXPECT_EQ(rec.bytes, pre.at(name).bytes) << name << " moved";
      ++stats;
    }
  EXPECT_GT(stats, 10);
  EXPECT_NE(pre.at("bn1.weight").bytes, after.at("bn1.weight").bytes) << "gamma still trains";
  r = testing::run_cpu_train(args(tmp / "none_bn", {"--epochs", "1", "--freeze-bn"}));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("start it with --init-from"), std::string::npos) << r.err;
}

// A run that stopped before its first checkpoint starts again from config.json: it must take the
// --init-from file again (named in init_from.json), not start from random weights.
TEST_F(FineTuneRun, RestartBeforeTheFirstEpochLoadsTheFileAgain) {
  const std::string run = tmp / "restart";
  auto r = testing::run_cpu_train(args(run, {"--init-from", weights, "--epochs", "1", "--freeze-epochs", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::set<std::string> keep{"config.json", "split.csv", "classes.txt", "init_from.json"};
  for (const auto& e : fs::directory_iterator(run))
    if (!keep.count(e.path().filename().string())) fs::remove_all(e.path());
  r = testing::run_cpu_train({"--resume", run, "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("init-from " + weights + ": loaded"), std::string::npos) << r.out;
  auto [same, changed] = same_and_changed(run + "/last.safetensors");
  EXPECT_GT(same, 10);
  EXPECT_EQ(changed, 0) << "the frozen epoch started from other weights than the file's";
}

}  // namespace
}  // namespace hsanet::train
