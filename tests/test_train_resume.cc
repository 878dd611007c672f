// Resume, divergence and fine-tuning starts:
//  - with one thread, a run stopped after an epoch and resumed ends with exactly the weights (and
//    optimiser state) of the run that was never interrupted, and metrics.csv has no duplicate rows;
//  - a NaN loss stops the run with a message and leaves the last good checkpoint byte for byte;
//  - --init-from loads what fits from a torchvision-style export and says what it skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "apps/train/checkpoint.h"
#include "apps/train/history.h"
#include "base/random.h"
#include "models/resnet.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// Four identities: 32 training images, four batches of 8 per epoch.
std::vector<std::string> args(const TempDir& tmp, const std::string& run, std::vector<std::string> extra = {}) {
  auto a = testing::concat({"--data", tmp / "faces", "--out", run, "--epochs", "3", "--batch-size", "8", "--lr",
                            "0.02", "--threads", "1", "--seed", "5"},
                           testing::tiny_model_args());
  return testing::concat(a, extra);
}

// Four identities copied into tmp/faces, and args()'s run stopped after its first epoch.
testing::RunResult run_first_epoch(const TempDir& tmp, const std::string& run) {
  testing::copy_faces(tmp / "faces", 4);
  return testing::run_cpu_train(args(tmp, run, {"--stop-after-epoch", "1"}));
}

void expect_same_tensors(const std::string& a, const std::string& b) {
  const io::SafeTensorsFile fa = io::read_safetensors(a), fb = io::read_safetensors(b);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  int optimizer_entries = 0;
  for (const auto& [name, ra] : fa.tensors) {
    ASSERT_TRUE(fb.contains(name)) << name;
    const io::TensorRecord& rb = fb.at(name);
    EXPECT_EQ(ra.shape, rb.shape) << name;
    EXPECT_TRUE(ra.bytes == rb.bytes) << name << " differs";
    optimizer_entries += name.rfind("optimizer.", 0) == 0;
  }
  EXPECT_GT(optimizer_entries, 1) << "the optimiser state is part of the checkpoint";
  EXPECT_EQ(fa.metadata.at("epoch"), fb.metadata.at("epoch"));
  EXPECT_EQ(fa.metadata.at("global_step"), fb.metadata.at("global_step"));
  EXPECT_EQ(fa.metadata.at("best_val_acc"), fb.metadata.at("best_val_acc"));
}

TEST(TrainResume, StoppedAndResumedEqualsUninterrupted) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::string whole = tmp / "whole", parts = tmp / "parts";
  testing::RunResult r = testing::run_cpu_train(args(tmp, whole));
  ASSERT_EQ(r.code, 0) << r.err;

  // Stopped after epoch 1 (the cosine schedule still spans 3 epochs), resumed to stop after 2...
  r = testing::run_cpu_train(args(tmp, parts, {"--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("stopped after epoch 1"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(parts + "/report.json"));
  EXPECT_EQ(read_metrics_csv(parts + "/metrics.csv").size(), 1u);
  // ...as if killed after writing metrics.csv for epoch 2 but before its checkpoint:
  std::ofstream(parts + "/metrics.csv", std::ios::app) << "2,9,0.1,9,0.1,0.02,1.0\n";
  r = testing::run_cpu_train({"--resume", parts, "--stop-after-epoch", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resumed after epoch 1 of 3"), std::string::npos) << r.out;
  // ...and resumed to the end.
  r = testing::run_cpu_train({"--resume", parts});
  ASSERT_EQ(r.code, 0) << r.err;

  expect_same_tensors(whole + "/last.safetensors", parts + "/last.safetensors");
  expect_same_tensors(whole + "/best.safetensors", parts + "/best.safetensors");
  const History hw = read_metrics_csv(whole + "/metrics.csv"), hp = read_metrics_csv(parts + "/metrics.csv");
  ASSERT_EQ(hp.size(), 3u) << "no duplicate or stale rows";
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(hp[e].epoch, static_cast<int>(e) + 1);
    EXPECT_EQ(hp[e].train_loss, hw[e].train_loss) << e;
    EXPECT_EQ(hp[e].val_acc, hw[e].val_acc) << e;
    EXPECT_EQ(hp[e].lr, hw[e].lr) << e;
  }
  const auto rw = nlohmann::json::parse(testing::slurp(whole + "/report.json"));
  const auto rp = nlohmann::json::parse(testing::slurp(parts + "/report.json"));
  EXPECT_EQ(rw["accuracy"], rp["accuracy"]);
  EXPECT_EQ(rw["val_acc_avg"], rp["val_acc_avg"]);
  EXPECT_EQ(rw["macro_avg"], rp["macro_avg"]);

  // Resuming a finished run trains nothing and reports again.
  r = testing::run_cpu_train({"--resume", parts});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_metrics_csv(parts + "/metrics.csv").size(), 3u);
  expect_same_tensors(whole + "/last.safetensors", parts + "/last.safetensors");

  // A new run may not silently take over a run directory.
  r = testing::run_cpu_train(args(tmp, parts));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("already holds a run"), std::string::npos) << r.err;
}

// The same with every state this issue added: the EMA (saved under raw.* / the model's names with
// --select-by ema), accumulation, the plateau schedule (replayed from the history) and clipping.
TEST(TrainResume, StoppedAndResumedEqualsUninterruptedWithEmaAccumulationAndPlateau) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::vector<std::string> extra = {"--ema", "0.8", "--select-by", "ema", "--accum-steps", "3",
                                          "--sched", "plateau", "--plateau-patience", "0", "--monitor", "val_acc",
                                          "--clip-grad", "2"};
  const std::string whole = tmp / "whole", parts = tmp / "parts";
  testing::RunResult r = testing::run_cpu_train(args(tmp, whole, extra));
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train(args(tmp, parts, testing::concat(extra, {"--stop-after-epoch", "1"})));
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train({"--resume", parts, "--stop-after-epoch", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train({"--resume", parts});
  ASSERT_EQ(r.code, 0) << r.err;

  expect_same_tensors(whole + "/last.safetensors", parts + "/last.safetensors");
  expect_same_tensors(whole + "/best.safetensors", parts + "/best.safetensors");
  const io::SafeTensorsFile last = io::read_safetensors(parts + "/last.safetensors");
  EXPECT_TRUE(last.contains("raw.fc.weight")) << "the trained weights are part of the comparison";
  EXPECT_EQ(last.metadata.at("global_step"), "6") << "4 batches per epoch in groups of 3: 2 steps an epoch";
  const History hw = read_metrics_csv(whole + "/metrics.csv"), hp = read_metrics_csv(parts + "/metrics.csv");
  ASSERT_EQ(hp.size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(hp[e].lr, hw[e].lr) << e;
    EXPECT_EQ(hp[e].ema_val_acc, hw[e].ema_val_acc) << e;
    EXPECT_EQ(hp[e].ema_val_loss, hw[e].ema_val_loss) << e;
  }
}

// --ema turned on when resuming (--allow-change ema): the average starts from the restored model,
// and from then on the checkpoint carries it.
TEST(TrainResume, EmaTurnedOnWhenResumingStartsFromTheRestoredModel) {
  TempDir tmp;
  const std::string run = tmp / "run";
  testing::RunResult r = run_first_epoch(tmp, run);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(io::read_safetensors(run + "/last.safetensors").contains("ema.fc.weight"));
  r = testing::run_cpu_train({"--resume", run, "--ema", "0.9"});
  EXPECT_EQ(r.code, 2) << "a change of what the run computes needs --allow-change";
  r = testing::run_cpu_train({"--resume", run, "--ema", "0.9", "--allow-change", "ema", "--stop-after-epoch", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resume: changed --ema 0.0 -> 0.9"), std::string::npos) << r.out;
  const io::SafeTensorsFile last = io::read_safetensors(run + "/last.safetensors");
  ASSERT_TRUE(last.contains("ema.fc.weight"));
  EXPECT_FALSE(last.at("ema.fc.weight").bytes == last.at("fc.weight").bytes) << "averaged over epoch 2's steps";
  const History h = read_metrics_csv(run + "/metrics.csv");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_TRUE(std::isnan(h[0].ema_val_acc)) << "epoch 1 had no average";
  EXPECT_TRUE(std::isfinite(h[1].ema_val_acc));
}

// Mixup, cutmix and colour jitter draw from (seed, epoch, batch or sample) streams: a mixed run
// stopped and resumed ends bit-identical to one never interrupted, and mixing changes the run.
TEST(TrainResume, AMixedRunResumesExactly) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::vector<std::string> mix{"--mixup", "0.4", "--cutmix", "1.0", "--color-jitter", "0.3",
                                     "--label-smoothing", "0.1"};
  const std::string whole = tmp / "whole", parts = tmp / "parts", plain = tmp / "plain";
  testing::RunResult r = testing::run_cpu_train(testing::concat(args(tmp, whole, mix), {"--stop-after-epoch", "2"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("batches: mixup 0.4 / cutmix 1 (cutmix p 0.5), p 1"), std::string::npos) << r.out;
  r = testing::run_cpu_train(testing::concat(args(tmp, parts, mix), {"--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train({"--resume", parts, "--stop-after-epoch", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  expect_same_tensors(whole + "/last.safetensors", parts + "/last.safetensors");
  const History hw = read_metrics_csv(whole + "/metrics.csv"), hp = read_metrics_csv(parts + "/metrics.csv");
  ASSERT_EQ(hw.size(), 2u);
  ASSERT_EQ(hp.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(hp[e].train_loss, hw[e].train_loss) << e;

  r = testing::run_cpu_train(args(tmp, plain, {"--label-smoothing", "0.1", "--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(read_metrics_csv(plain + "/metrics.csv")[0].train_loss, hw[0].train_loss);
}

TEST(TrainResume, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  TempDir tmp;
  const std::string run = tmp / "run";
  testing::RunResult r = run_first_epoch(tmp, run);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string before = testing::slurp(run + "/last.safetensors");
  const std::string best_before = testing::slurp(run + "/best.safetensors");

  // Epoch 1 took global steps 0-3; step 6 is batch 3 of epoch 2.
  r = testing::run_cpu_train({"--resume", run, "--fault-nan-step", "6"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("the loss is NaN at epoch 2, batch 3 of 4 (global step 6)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("last good checkpoint"), std::string::npos) << r.err;
  EXPECT_TRUE(testing::slurp(run + "/last.safetensors") == before) << "last.safetensors was rewritten";
  EXPECT_TRUE(testing::slurp(run + "/best.safetensors") == best_before) << "best.safetensors was rewritten";
  EXPECT_EQ(read_metrics_csv(run + "/metrics.csv").size(), 1u);
  EXPECT_NE(testing::slurp(run + "/log.jsonl").find("\"event\":\"error\""), std::string::npos);

  // A real divergence from the first steps: nothing to keep, and it says so.
  r = testing::run_cpu_train(args(tmp, tmp / "wild", {"--lr", "1e30"}));
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("training diverged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no checkpoint was written"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "wild/last.safetensors"));
}

// A torchvision-style export: a 1000-class head, and num_batches_tracked counters as I64.
TEST(TrainResume, InitFromSkipsAHeadOfAnotherShape) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  models::ModelConfig mc;
  mc.width_mult = 0.125;
  mc.blocks = {1, 1, 1, 1};
  mc.height = mc.width = 32;
  mc.num_classes = 1000;
  auto imagenet = models::build_model(mc, /*seed=*/99);
  std::vector<std::pair<std::string, io::TensorRecord>> records;
  for (const auto& [name, t] : imagenet->state_dict()) records.emplace_back(name, io::TensorRecord::from_tensor(t));
  records.emplace_back("bn1.num_batches_tracked", io::TensorRecord::from_int64({7}, Shape{}));
  const std::string file = tmp / "resnet_imagenet.safetensors";
  io::write_safetensors(file, records);

  // The library call: everything but fc.* is loaded.
  mc.num_classes = 4;
  auto mine = models::build_model(mc);
  const io::LoadReport rep = load_model_weights(io::read_safetensors(file), file, *mine, /*strict=*/false);
  EXPECT_TRUE(rep.missing.empty());
  EXPECT_TRUE(rep.unexpected.empty());
  ASSERT_EQ(rep.wrong_shape.size(), 2u);
  EXPECT_EQ(rep.loaded.size() + 2, mine->state_dict().size());
  EXPECT_EQ(mine->conv1->weight.to_vector(), imagenet->conv1->weight.to_vector());
  const std::string text = describe_weight_load(rep, file);
  EXPECT_NE(text.find("wrong shape: fc.weight: expected [4, "), std::string::npos) << text;
  EXPECT_NE(text.find("the file has 1000 classes, this run 4"), std::string::npos) << text;

  // The program prints the same account and trains on.
  testing::RunResult r = testing::run_cpu_train(args(tmp, tmp / "ft", {"--init-from", file, "--epochs", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("fresh: fc.bias (shape differs: file [1000]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("keeps its fresh initialisation"), std::string::npos) << r.out;
}

// --init-from with a NaN or an infinity anywhere, weights or optimiser state: refused, naming the
// tensor, before the run writes anything.
TEST(TrainResume, InitFromRefusesNonFiniteTensorsBeforeWritingAnything) {
  TempDir tmp;
  const std::string run = tmp / "run";
  testing::RunResult r = run_first_epoch(tmp, run);
  ASSERT_EQ(r.code, 0) << r.err;
  const io::SafeTensorsFile ck = io::read_safetensors(run + "/last.safetensors");
  for (const std::string bad : {"layer1.0.conv2.weight", "optimizer.momentum_buffer.fc.weight"}) {
    std::vector<std::pair<std::string, io::TensorRecord>> records;
    for (const auto& [name, rec] : ck.tensors) {
      records.emplace_back(name, rec);
      if (name == bad) {
        Tensor t = rec.to_float_tensor();
        t.data()[3] = std::numeric_limits<float>::infinity();
        records.back().second = io::TensorRecord::from_tensor(t);
      }
    }
    const std::string file = tmp / "bad.safetensors", out = tmp / "ft";
    io::write_safetensors(file, records, ck.metadata);
    r = testing::run_cpu_train(args(tmp, out, {"--init-from", file, "--epochs", "1"}));
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_NE(r.err.find(file + ": tensor '" + bad + "' holds inf at element 3"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out + "/config.json")) << bad << ": the run started";
    fs::remove_all(out);
  }
}

// A checkpoint whose momentum buffers are gone would restart the momentum silently: refused.
TEST(TrainResume, ACheckpointWithoutMomentumIsNotResumed) {
  TempDir tmp;
  const std::string run = tmp / "run";
  testing::RunResult r = run_first_epoch(tmp, run);
  ASSERT_EQ(r.code, 0) << r.err;
  const io::SafeTensorsFile ck = io::read_safetensors(run + "/last.safetensors");
  std::vector<std::pair<std::string, io::TensorRecord>> records;
  for (const auto& [name, rec] : ck.tensors)
    if (name.rfind("optimizer.momentum_buffer.", 0) != 0) records.emplace_back(name, rec);
  ASSERT_LT(records.size(), ck.tensors.size());
  io::write_safetensors(run + "/last.safetensors", records, ck.metadata);
  r = testing::run_cpu_train({"--resume", run});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(run + "/last.safetensors: no optimiser state for"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'optimizer.momentum_buffer."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("restart their momentum"), std::string::npos) << r.err;
}

// A resume computes with the checkpoint's configuration: an edited config.json or a flag that
// changes the run is refused unless --allow-change names the option, and then the change is logged
// and recorded in the next checkpoint.
TEST(TrainResume, ChangesToTheRunMustBeAllowedAndAreLogged) {
  TempDir tmp;
  const std::string run = tmp / "run";
  testing::RunResult r = run_first_epoch(tmp, run);
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json config = nlohmann::json::parse(testing::slurp(run + "/config.json"));
  ASSERT_EQ(config["lr"], 0.02);
  config["lr"] = 0.5;
  std::ofstream(run + "/config.json") << config.dump(2);

  r = testing::run_cpu_train({"--resume", run, "--stop-after-epoch", "2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--resume: --lr would change what the run computes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("an edited config.json counts too"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-change lr"), std::string::npos) << r.err;

  r = testing::run_cpu_train({"--resume", run, "--stop-after-epoch", "2", "--allow-change", "lr"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resume: changed --lr 0.02 -> 0.5 (edited config.json)"), std::string::npos) << r.out;
  EXPECT_NE(testing::slurp(run + "/log.jsonl").find("\"event\":\"config_change\""), std::string::npos);
  const auto saved = nlohmann::json::parse(io::read_safetensors(run + "/last.safetensors").metadata.at("config"));
  EXPECT_EQ(saved["lr"], 0.5) << "the checkpoint records the run's new configuration";

  r = testing::run_cpu_train({"--resume", run, "--batch-size", "4"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--batch-size would change"), std::string::npos) << r.err;
  r = testing::run_cpu_train({"--resume", run, "--batch-size", "4", "--allow-change", "batch-size"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resume: changed --batch-size 8 -> 4 (--allow-change batch-size)"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace hsanet::train
