// cpu_train's command line: bad values are refused with a clear message before any work, a
// config file is overridden by flags, and a resumed run refuses changes that would alter it.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <functional>
#include <filesystem>
#include <sstream>

#include "apps/train/command_line.h"
#include "apps/train/memory_estimate.h"
#include "models/resnet.h"
#include "nn/layers.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

ParseResult parse(std::vector<std::string> args, std::string* err_text = nullptr) {
  std::vector<const char*> argv{"cpu_train"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  ParseResult r = parse_train_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
  if (err_text) *err_text = err.str();
  return r;
}

std::string faces() { return testing::source_dir() + "/data/orl_faces"; }

// Each bad command line gives code 2 and a message naming the option; nothing is created.
TEST(TrainCli, RefusesBadValuesBeforeAnyWork) {
  TempDir tmp;
  const std::string out = tmp / "run";
  struct Case {
    std::vector<std::string> args;
    std::string expect;  // in the message
  };
  const std::vector<Case> cases = {
      {{"--lr", "-0.1"}, "--lr: must be positive"},
      {{"--lr", "0"}, "--lr: must be positive"},
      {{"--batch-size", "0"}, "--batch-size: must be at least 1"},
      {{"--epochs", "0"}, "--epochs: must be at least 1"},
      {{"--model", "resnet18"}, "--model"},
      {{"--data", tmp / "no_such_folder"}, "is not a folder"},
      {{"--img-size", "16"}, "--img-size: must be at least 32"},
      {{"--img-size", "22400"}, "--img-size: must be at least 32 and at most 1024, got 22400"},
      {{"--batch-size", "2147483647"}, "--batch-size: must be at least 1 and at most 65536"},
      {{"--eval-batch-size", "65537"}, "--eval-batch-size: must be at least 1 and at most 65536"},
      {{"--workers", "100000"}, "--workers: must be 0 to 64, got 100000"},
      {{"--val-fraction", "1"}, "--val-fraction"},
      {{"--opt", "rmsprop"}, "--opt: must be sgd or adamw"},
      {{"--precision", "fp16"}, "--precision"},
      {{"--sched", "linear"}, "--sched"},
      {{"--alpha", "1.5"}, "--alpha"},
      {{"--label-smoothing", "1"}, "--label-smoothing"},
      {{"--clip-grad", "-1"}, "--clip-grad: must be 0 (off) or a positive bound"},
      {{"--clip-mode", "global"}, "--clip-mode: must be norm or value, got 'global'"},
      {{"--patience", "-1"}, "--patience: must be 0 (off) or a number of epochs"},
      {{"--monitor", "train_loss"}, "--monitor: must be val_loss or val_acc, got 'train_loss'"},
      {{"--sched", "plateau", "--plateau-factor", "1"}, "--plateau-factor: must be in (0, 1), got 1"},
      {{"--plateau-patience", "-1"}, "--plateau-patience: must be >= 0"},
      {{"--plateau-min-lr", "-1"}, "--plateau-min-lr: must be 0 or more"},
      {{"--accum-steps", "0"}, "--accum-steps: must be at least 1"},
      {{"--ema", "1"}, "--ema: must be 0 (off) or a decay in (0, 1), got 1"},
      {{"--select-by", "best"}, "--select-by: must be raw or ema, got 'best'"},
      {{"--select-by", "ema"}, "--select-by: ema needs --ema DECAY"},
      {{"--freeze-epochs", "-2"}, "--freeze-epochs: must be 0 (off) or a number of epochs"},
      {{"--lr-pretrained-mult", "-0.5"}, "--lr-pretrained-mult: must be 0 or more"},
      {{"--center-crop", "0"}, "--center-crop"},
      {{"--scale-min", "0.9", "--scale-max", "0.5"}, "--scale-min"},
      {{"--hflip", "2"}, "--hflip"},
      {{"--mixup", "-0.2"}, "--mixup: must be 0 (off) or a positive Beta alpha"},
      {{"--cutmix", "-1"}, "--cutmix: must be 0 (off) or a positive Beta alpha"},
      {{"--mix-prob", "1.5"}, "--mix-prob: must be a probability in [0, 1]"},
      {{"--mix-switch-prob", "-0.1"}, "--mix-switch-prob: must be a probability in [0, 1]"},
      {{"--color-jitter", "-0.2"}, "--color-jitter: strengths must be >= 0"},
      {{"--color-jitter", "0.1,0.2"}, "--color-jitter: takes one strength S or three"},
      {{"--threads", "-1"}, "--threads"},
      {{"--width-mult", "0"}, "width multiplier"},
      {{"--lr", "abc"}, "--lr"},
      {{"--no-such-flag"}, "no-such-flag"},
      {{"--evaluate"}, "--evaluate needs weights"},
      {{"--init-from", tmp / "missing.safetensors"}, "--init-from"},
      {{"--resume", tmp / "not_a_run"}, "no config.json"},
      {{"--allow-change", "lr"}, "--allow-change needs --resume"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    if (std::find(args.begin(), args.end(), "--data") == args.end()) args.insert(args.end(), {"--data", faces()});
    args.insert(args.end(), {"--out", out});
    std::string err;
    ParseResult r = parse(args, &err);
    EXPECT_FALSE(r.proceed) << c.args[0];
    EXPECT_EQ(r.code, 2) << c.args[0];
    EXPECT_NE(err.find(c.expect), std::string::npos) << "for " << c.args[0] << ", message: " << err;
  }
  EXPECT_FALSE(fs::exists(out)) << "a refused command line must not create the run directory";
}

// Within the limits, a configuration whose lower bound on memory exceeds the machine's is refused
// with the estimate; the quick demo and the paper's recipe fit in a few GiB.
TEST(TrainCli, ConfigurationsThatCannotFitAreRefusedWithTheEstimate) {
  constexpr uint64_t k16GiB = uint64_t{16} << 30;
  TrainConfig big;
  big.img_size = 1024;
  big.batch_size = 4096;
  try {
    check_fits_in_memory(big, k16GiB);
    ADD_FAILURE() << "ResNet-50 at 1024x1024 in batches of 4096 was accepted in 16 GiB";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--img-size 1024 with --batch-size 4096"), std::string::npos) << m;
    EXPECT_NE(m.find("needs at least about"), std::string::npos) << m;
    EXPECT_NE(m.find("more than this machine's 16.0 GiB"), std::string::npos) << m;
  }
  // Global attention's logits grow with the square of the tokens, local attention's linearly.
  TrainConfig global, local;
  global.model.name = local.model.name = "botnet50";
  local.model.attention = "local";
  global.img_size = local.img_size = 1024;
  EXPECT_GT(estimate_training_memory(global).activation_bytes, estimate_training_memory(local).activation_bytes);

  TrainConfig paper;  // ResNet-50, 224, batch 4, eval batch 32
  const MemoryEstimate e = estimate_training_memory(paper);
  EXPECT_GT(e.model_bytes, 23e6 * 4 * 3);  // 23.5 M parameters, gradients and momentum
  EXPECT_GT(e.total(), 0.5 * (1 << 30));
  EXPECT_LT(e.total(), 8.0 * (1 << 30));
  EXPECT_NO_THROW(check_fits_in_memory(paper, k16GiB));
  TrainConfig demo;
  demo.model.width_mult = 0.25;
  demo.img_size = 64;
  demo.batch_size = 8;
  EXPECT_NO_THROW(check_fits_in_memory(demo, uint64_t{1} << 30));
}

TEST(TrainCli, TheProgramReturnsTheErrorCode) {
  TempDir tmp;
  testing::RunResult r = testing::run_cpu_train({"--data", faces(), "--batch-size", "0", "--out", tmp / "r"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cpu_train: error: --batch-size"), std::string::npos) << r.err;
  r = testing::run_cpu_train({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--data", "--model", "--epochs", "--batch-size", "--img-size", "--lr", "--seed",
                           "--threads", "--out", "--resume", "--init-from", "--config", "--evaluate",
                           "--limit-batches", "--label-smoothing", "--opt", "--sched", "--alpha", "--plateau-factor",
                           "--plateau-patience", "--plateau-min-lr", "--accum-steps", "--ema", "--ema-warmup",
                           "--no-ema-warmup", "--select-by", "--freeze-epochs", "--lr-pretrained-mult"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " missing from --help";
  for (const char* limit : {"32 to 1024", "1 to 65536", "0 to 64"})
    EXPECT_NE(r.out.find(limit), std::string::npos) << "the limit " << limit << " is not in --help";
  EXPECT_EQ(r.out.find("--stop-after-epoch"), std::string::npos) << "test hooks stay hidden";
}

TEST(TrainCli, DefaultsAreThePapersRecipe) {
  ParseResult r = parse({"--data", faces()});
  ASSERT_TRUE(r.proceed);
  const TrainConfig& c = r.inv.cfg;
  EXPECT_DOUBLE_EQ(c.lr, 0.005);
  EXPECT_DOUBLE_EQ(c.alpha, 0.25);
  EXPECT_EQ(c.batch_size, 4);
  EXPECT_EQ(c.epochs, 50);
  EXPECT_EQ(c.img_size, 224);
  EXPECT_EQ(c.opt, "sgd");
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-4);
  EXPECT_EQ(c.sched, "cosine");
  EXPECT_EQ(r.inv.out.rfind("runs/resnet50-", 0), 0u) << r.inv.out;
}

// The mixing and colour flags reach the loader's MixConfig and the training transform; one
// colour strength serves all three; --no-augment turns mixing off too; validation never jitters.
TEST(TrainCli, MixAndColourJitterFlagsReachTheDataLayer) {
  ParseResult off = parse({"--data", faces()});
  ASSERT_TRUE(off.proceed);
  EXPECT_FALSE(off.inv.cfg.mix().enabled());
  EXPECT_FALSE(off.inv.cfg.train_transform().color_jitter.enabled());

  ParseResult r = parse({"--data", faces(), "--mixup", "0.2", "--cutmix", "1.0", "--mix-prob", "0.8",
                         "--mix-switch-prob", "0.3", "--color-jitter", "0.3"});
  ASSERT_TRUE(r.proceed);
  const data::MixConfig m = r.inv.cfg.mix();
  EXPECT_DOUBLE_EQ(m.mixup_alpha, 0.2);
  EXPECT_DOUBLE_EQ(m.cutmix_alpha, 1.0);
  EXPECT_DOUBLE_EQ(m.prob, 0.8);
  EXPECT_DOUBLE_EQ(m.switch_prob, 0.3);
  const data::ColorJitterConfig cj = r.inv.cfg.train_transform().color_jitter;
  EXPECT_DOUBLE_EQ(cj.brightness, 0.3);
  EXPECT_DOUBLE_EQ(cj.contrast, 0.3);
  EXPECT_DOUBLE_EQ(cj.saturation, 0.3);
  EXPECT_FALSE(r.inv.cfg.eval_transform().color_jitter.enabled());

  ParseResult three = parse({"--data", faces(), "--color-jitter", "0.4,0.2,0.1"});
  ASSERT_TRUE(three.proceed);
  const data::ColorJitterConfig c3 = three.inv.cfg.train_transform().color_jitter;
  EXPECT_DOUBLE_EQ(c3.brightness, 0.4);
  EXPECT_DOUBLE_EQ(c3.contrast, 0.2);
  EXPECT_DOUBLE_EQ(c3.saturation, 0.1);
  EXPECT_EQ(to_json(three.inv.cfg).at("color-jitter"), nlohmann::json({0.4, 0.2, 0.1}));

  ParseResult none = parse({"--data", faces(), "--mixup", "0.2", "--color-jitter", "0.3", "--no-augment"});
  ASSERT_TRUE(none.proceed);
  EXPECT_FALSE(none.inv.cfg.mix().enabled());
  EXPECT_FALSE(none.inv.cfg.train_transform().color_jitter.enabled());
}

// Every key of the configuration is a flag of the same name, and JSON round-trips.
TEST(TrainCli, ConfigKeysAreFlagNames) {
  TrainConfig c;
  c.lr = 0.123;
  c.model.blocks = {2, 1, 1, 1};
  c.augment = false;
  c.seed = 77;
  const nlohmann::json j = to_json(c);
  TrainConfig back;
  apply_json(j, back, "test");
  EXPECT_EQ(to_json(back), j);
  std::ostringstream help;
  {
    std::vector<const char*> argv{"cpu_train", "--help"};
    std::ostringstream err;
    parse_train_command_line(2, argv.data(), help, err);
  }
  for (const auto& [key, value] : j.items())
    EXPECT_NE(help.str().find("--" + key), std::string::npos) << "config key '" << key << "' has no flag";
}

TEST(TrainCli, ConfigFileIsOverriddenByFlags) {
  TempDir tmp;
  const std::string file = tmp / "c.json";
  std::ofstream(file) << R"({"lr": 0.02, "epochs": 7, "model": "hsanet_x", "blocks": [1, 1, 1, 1]})";
  ParseResult r = parse({"--config", file, "--data", faces(), "--epochs", "9"});
  ASSERT_TRUE(r.proceed);
  EXPECT_DOUBLE_EQ(r.inv.cfg.lr, 0.02);
  EXPECT_EQ(r.inv.cfg.epochs, 9);
  EXPECT_EQ(r.inv.cfg.model.name, "hsanet_x");
  EXPECT_EQ(r.inv.cfg.model.blocks, (std::vector<int>{1, 1, 1, 1}));

  std::string err;
  std::ofstream(file) << R"({"learning_rate": 0.02})";
  r = parse({"--config", file, "--data", faces()}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("unknown option 'learning_rate'"), std::string::npos) << err;
  std::ofstream(file) << R"({"lr": "fast"})";
  r = parse({"--config", file, "--data", faces()}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("'lr' has the wrong type"), std::string::npos) << err;
  std::ofstream(file) << R"({"lr": -1})";
  r = parse({"--config", file, "--data", faces()}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("--lr: must be positive"), std::string::npos) << err;
}

// --resume takes the run's config.json; safe flags may change, the others may not.
TEST(TrainCli, ResumeAllowsOnlySafeChanges) {
  TempDir tmp;
  const std::string run = tmp / "run";
  fs::create_directories(run);
  TrainConfig saved;
  saved.data = faces();
  saved.lr = 0.03;
  saved.batch_size = 8;
  saved.conv_algorithm = "direct";
  std::ofstream(run + "/config.json") << to_json(saved).dump();

  ParseResult r = parse({"--resume", run, "--epochs", "60", "--threads", "1"});
  ASSERT_TRUE(r.proceed);
  EXPECT_EQ(r.inv.out, run);
  EXPECT_DOUBLE_EQ(r.inv.cfg.lr, 0.03);
  EXPECT_EQ(r.inv.cfg.batch_size, 8);
  EXPECT_EQ(r.inv.cfg.epochs, 60);
  EXPECT_EQ(r.inv.cfg.conv_algorithm, "direct");  // the run's own, from config.json
  // It reaches every convolution of the model it builds: an option of each, not a global.
  {
    auto model = models::build_model(r.inv.cfg.model_config(5));
    int convs = 0;
    nn::for_each_module(*model, [&](nn::Module& m) {
      if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) {
        EXPECT_EQ(c->opt.algorithm, ops::Conv2dAlgorithm::kDirect);
        ++convs;
      }
    });
    EXPECT_GT(convs, 50);
  }

  // The convolution algorithm changes only the rounding: a resumed run may switch it.
  r = parse({"--resume", run, "--conv-algorithm", "fast"});
  ASSERT_TRUE(r.proceed);
  EXPECT_EQ(r.inv.cfg.conv_algorithm, "fast");

  // So does the precision (docs/precision.md).
  r = parse({"--resume", run, "--precision", "bf16"});
  ASSERT_TRUE(r.proceed);
  EXPECT_EQ(r.inv.cfg.precision, "bf16");
  EXPECT_EQ(r.inv.cfg.model_config(5).precision, ops::Precision::kBF16);

  r = parse({"--resume", run, "--batch-size", "8"});  // the same value is no change
  EXPECT_TRUE(r.proceed);

  std::string err;
  r = parse({"--resume", run, "--batch-size", "4", "--lr", "0.1"}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("--batch-size, --lr would change what the run computes"), std::string::npos) << err;
  EXPECT_NE(err.find("--conv-algorithm"), std::string::npos) << err;  // listed among the allowed
  r = parse({"--resume", run, "--config", run + "/config.json"}, &err);
  EXPECT_EQ(r.code, 2);
  r = parse({"--resume", run, "--out", tmp / "elsewhere"}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("--out cannot differ"), std::string::npos) << err;
}

// Mixing and colour jitter change what a run computes: a resume keeps them unless --allow-change
// names them (the change is then logged). A run from before the options existed ran without them:
// asking for that (0, or no jitter) on resume is no change.
TEST(TrainCli, ResumeChangesMixingOnlyWhenAllowed) {
  TempDir tmp;
  const std::string run = tmp / "run";
  fs::create_directories(run);
  TrainConfig saved;
  saved.data = faces();
  saved.mixup = 0.2;
  saved.color_jitter = {0.3};
  std::ofstream(run + "/config.json") << to_json(saved).dump();

  ParseResult r = parse({"--resume", run});
  ASSERT_TRUE(r.proceed);
  EXPECT_DOUBLE_EQ(r.inv.cfg.mixup, 0.2);
  EXPECT_EQ(r.inv.cfg.color_jitter, std::vector<double>{0.3});

  std::string err;
  r = parse({"--resume", run, "--mixup", "0.5", "--color-jitter", "0.1"}, &err);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(err.find("--color-jitter, --mixup would change what the run computes"), std::string::npos) << err;

  r = parse({"--resume", run, "--mixup", "0.5", "--allow-change", "mixup"}, &err);
  ASSERT_TRUE(r.proceed) << err;
  EXPECT_DOUBLE_EQ(r.inv.cfg.mixup, 0.5);
  ASSERT_EQ(r.inv.config_changes.size(), 1u);
  EXPECT_EQ(r.inv.config_changes[0], "--mixup 0.2 -> 0.5 (--allow-change mixup)");

  // An older run's config.json, without the new keys.
  nlohmann::json old = to_json(TrainConfig{});
  old["data"] = faces();
  for (const char* key : {"mixup", "cutmix", "mix-prob", "mix-switch-prob", "color-jitter"}) old.erase(key);
  std::ofstream(run + "/config.json") << old.dump();
  r = parse({"--resume", run, "--mixup", "0", "--cutmix", "0"}, &err);
  EXPECT_TRUE(r.proceed) << err;
  r = parse({"--resume", run, "--cutmix", "1"}, &err);
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace hsanet::train
