// The run directory survives crashes and is never taken over by mistake:
//  - a run stopped right after any one of its durable writes (what a kill at any moment leaves,
//    since every write is atomic) resumes and ends with exactly the uninterrupted run's files;
//  - a resume without last.safetensors continues from best.safetensors and says so;
//  - a redone epoch never replaces a better best;
//  - a new run refuses a non-empty directory that is not a run unless --overwrite, default names
//    are unique, and an unwritable --out is reported before any image is read;
//  - the run's files replace symlinks instead of writing through them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "apps/train/checkpoint.h"
#include "apps/train/history.h"
#include "apps/train/run_dir.h"
#include "models/resnet.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// Four identities: 32 training images, four batches of 8 per epoch. With seed 2, epoch 2 is better
// than epoch 1, so both epochs write best.
std::vector<std::string> args(const TempDir& tmp, const std::string& run, std::vector<std::string> extra = {}) {
  auto a = testing::concat({"--data", tmp / "faces", "--out", run, "--epochs", "2", "--batch-size", "8", "--lr",
                            "0.02", "--threads", "1", "--seed", "2"},
                           testing::tiny_model_args());
  return testing::concat(a, extra);
}

void expect_same_checkpoint(const std::string& a, const std::string& b, const std::string& context) {
  const io::SafeTensorsFile fa = io::read_safetensors(a), fb = io::read_safetensors(b);
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size()) << context;
  for (const auto& [name, ra] : fa.tensors) {
    ASSERT_TRUE(fb.contains(name)) << context << ": " << name;
    EXPECT_TRUE(ra.bytes == fb.at(name).bytes) << context << ": " << name << " differs";
  }
  for (const char* key : {"epoch", "global_step", "best_val_acc", "best_epoch"})
    EXPECT_EQ(fa.metadata.at(key), fb.metadata.at(key)) << context << ": " << key;
  // The history's records, less the wall time of each epoch (its seventh number, "seconds", in
  // metrics.csv's order: epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds, val_top5).
  auto records = [](const io::SafeTensorsFile& f) {
    nlohmann::json h = nlohmann::json::parse(f.metadata.at("history"));
    for (auto& row : h) {
      EXPECT_EQ(row.size(), 8u) << row.dump();
      if (row.size() > 6) row.erase(6);
    }
    return h;
  };
  EXPECT_EQ(records(fa), records(fb)) << context << ": history";
}

TEST(TrainRunDir, StoppedAfterAnyWriteResumesToTheSameRun) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::string whole = tmp / "whole";
  testing::RunResult r = testing::run_cpu_train(args(tmp, whole));
  ASSERT_EQ(r.code, 0) << r.err;

  int stopped = 0;
  for (int k = 1; k <= 20; ++k) {
    const std::string run = tmp / ("k" + std::to_string(k));
    const std::string at = "stopped after write " + std::to_string(k);
    r = testing::run_cpu_train(args(tmp, run, {"--fault-stop-after-write", std::to_string(k)}));
    if (r.code == 0) break;  // the run makes fewer than k writes: every point was covered
    ASSERT_EQ(r.code, 9) << at << ": " << r.err;
    ASSERT_NE(r.err.find(at), std::string::npos) << r.err;
    ++stopped;
    r = testing::run_cpu_train({"--resume", run});
    ASSERT_EQ(r.code, 0) << at << ", then resumed: " << r.err;
    expect_same_checkpoint(whole + "/last.safetensors", run + "/last.safetensors", at + ": last");
    expect_same_checkpoint(whole + "/best.safetensors", run + "/best.safetensors", at + ": best");
    EXPECT_EQ(read_metrics_csv(run + "/metrics.csv").size(), 2u) << at;
    EXPECT_TRUE(fs::exists(run + "/report.json")) << at;
    fs::remove_all(run);
  }
  // config.json, classes.txt, split.csv; per epoch metrics.csv, last and best; the reports and
  // the curves.
  EXPECT_EQ(stopped, 3 + 3 + 3 + 2);
}

TEST(TrainRunDir, ResumeWithoutLastContinuesFromBest) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::string whole = tmp / "whole", run = tmp / "run";
  testing::RunResult r = testing::run_cpu_train(args(tmp, whole));
  ASSERT_EQ(r.code, 0) << r.err;
  r = testing::run_cpu_train(args(tmp, run, {"--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;
  fs::remove(run + "/last.safetensors");
  r = testing::run_cpu_train({"--resume", run});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("no last.safetensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("continuing from best.safetensors"), std::string::npos) << r.out;
  expect_same_checkpoint(whole + "/last.safetensors", run + "/last.safetensors", "resumed from best");
}

// The state an older writer (best before last) left when killed between the two in epoch 2: a
// best from a first attempt at epoch 2 that scored 1.0, and last from epoch 1. The redone epoch 2
// scores less and must not replace it.
TEST(TrainRunDir, ARedoneEpochDoesNotReplaceABetterBest) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::string run = tmp / "run";
  testing::RunResult r = testing::run_cpu_train(args(tmp, run, {"--stop-after-epoch", "1"}));
  ASSERT_EQ(r.code, 0) << r.err;

  models::ModelConfig mc;
  mc.width_mult = 0.125;
  mc.blocks = {1, 1, 1, 1};
  mc.height = mc.width = 32;
  mc.num_classes = 4;
  auto model = models::build_model(mc);
  const io::SafeTensorsFile last = io::read_safetensors(run + "/last.safetensors");
  RunIdentity identity = read_run_identity(last, run + "/last.safetensors");
  nn::SGD opt(model->named_parameters(), nn::SgdOptions{.lr = 0.02f, .momentum = 0.9f});
  TrainingState s = load_training_checkpoint(last, run + "/last.safetensors", *model, opt);
  s.epoch = 2;
  s.history.push_back({2, 0.5, 0.9, 0.1, 1.0, 0.01, 1.0});
  s.best_val_acc = 1.0;
  s.best_epoch = 2;
  save_training_checkpoint(run + "/best.safetensors", *model, opt, s, identity);
  const std::string best_before = testing::slurp(run + "/best.safetensors");

  r = testing::run_cpu_train({"--resume", run});
  ASSERT_EQ(r.code, 0) << r.err;
  const History h = read_metrics_csv(run + "/metrics.csv");
  ASSERT_EQ(h.size(), 2u);
  // For this test to mean anything, the redone epoch must beat epoch 1 (which last.safetensors
  // remembers as the best) and fall short of the first attempt's 1.0.
  ASSERT_GT(h[1].val_acc, h[0].val_acc);
  ASSERT_LT(h[1].val_acc, 1.0);
  EXPECT_NE(r.out.find("it stays the one to beat"), std::string::npos) << r.out;
  EXPECT_TRUE(testing::slurp(run + "/best.safetensors") == best_before) << "a worse model replaced best";
}

TEST(TrainRunDir, NewRunRefusesADirectoryThatHoldsSomethingElse) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  // Not a run: refused, untouched; with --overwrite the run writes beside the stranger.
  const std::string other = tmp / "other";
  fs::create_directories(other);
  std::ofstream(other + "/notes.txt") << "mine";
  std::ofstream(other + "/metrics.csv") << "not yours";
  testing::RunResult r = testing::run_cpu_train(args(tmp, other, {"--epochs", "1"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("'" + other + "' is not empty and holds no run"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(testing::slurp(other + "/metrics.csv"), "not yours");
  EXPECT_FALSE(fs::exists(other + "/config.json"));
  r = testing::run_cpu_train(args(tmp, other, {"--epochs", "1", "--overwrite"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(testing::slurp(other + "/notes.txt"), "mine");
  EXPECT_EQ(read_metrics_csv(other + "/metrics.csv").size(), 1u);

  // Killed while writing its config.json: only the dead writer's temporary file is there, and
  // the same command starts the run again.
  const std::string torn = tmp / "torn";
  fs::create_directories(torn);
  std::ofstream(torn + "/config.json.tmp.999999999") << "{\"ep";
  r = testing::run_cpu_train(args(tmp, torn, {"--epochs", "1"}));
  EXPECT_EQ(r.code, 0) << r.err;

  // A run that died before epoch 1: refused for a new run, resumed from the start.
  const std::string died = tmp / "died";
  r = testing::run_cpu_train(args(tmp, died, {"--fault-stop-after-write", "3"}));
  ASSERT_EQ(r.code, 9) << r.err;
  const std::string config = testing::slurp(died + "/config.json");
  r = testing::run_cpu_train(args(tmp, died, {"--lr", "0.5"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("completed no epoch"), std::string::npos) << r.err;
  EXPECT_EQ(testing::slurp(died + "/config.json"), config) << "the refused run rewrote config.json";
  r = testing::run_cpu_train({"--resume", died});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("starting again from epoch 1"), std::string::npos) << r.out;

  // A run with checkpoints: --overwrite does not replace them.
  r = testing::run_cpu_train(args(tmp, died, {"--overwrite"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("never replaces checkpoints"), std::string::npos) << r.err;
}

TEST(TrainRunDir, DefaultNamesAreUnique) {
  TempDir tmp;
  const std::string base = tmp / "runs/resnet50-20260101-120000";
  const std::string a = create_unique_dir(base), b = create_unique_dir(base), c = create_unique_dir(base);
  EXPECT_EQ(a, base);
  EXPECT_EQ(b, base + "-2");
  EXPECT_EQ(c, base + "-3");
  for (const std::string& d : {a, b, c}) EXPECT_TRUE(fs::is_directory(d)) << d;
}

// The data folder holds a broken image: the --out problem must be reported first, without
// waiting for the data set to be decoded; with a good --out the data error names --skip-bad.
TEST(TrainRunDir, UnwritableOutIsReportedBeforeTheData) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  std::ofstream(tmp / "faces/s1/broken.pgm") << "P5\n92 112\n255\n";  // no samples
  std::ofstream(tmp / "a_file") << "x";
  const std::string out = tmp / "a_file/run";
  testing::RunResult r = testing::run_cpu_train(args(tmp, out));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--out '" + out + "': cannot create the directory"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("broken.pgm"), std::string::npos) << "the data was read first: " << r.err;

  r = testing::run_cpu_train(args(tmp, tmp / "run"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("broken.pgm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("skip them with --skip-bad)"), std::string::npos) << r.err;
}

// config.json, classes.txt and split.csv replace whatever is at their names, links included,
// instead of writing through a link into another file.
TEST(TrainRunDir, RunFilesReplaceLinksInsteadOfFollowingThem) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 4);
  const std::string run = tmp / "run";
  fs::create_directories(run);
  for (const char* name : {"config.json", "classes.txt", "split.csv"}) {
    const std::string victim = tmp / (std::string("victim_") + name);
    std::ofstream(victim) << "precious";
    fs::create_symlink(victim, run + "/" + name);
  }
  std::ofstream(run + "/config.json.orig") << "{}";  // not a run: --overwrite is needed
  testing::RunResult r = testing::run_cpu_train(args(tmp, run, {"--epochs", "1", "--overwrite"}));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* name : {"config.json", "classes.txt", "split.csv"}) {
    EXPECT_EQ(testing::slurp(tmp / (std::string("victim_") + name)), "precious") << name << " wrote through the link";
    EXPECT_FALSE(fs::is_symlink(run + "/" + name)) << name;
  }
  EXPECT_EQ(testing::slurp(run + "/classes.txt"), "s1\ns10\ns11\ns12\n");
}

}  // namespace
}  // namespace hsanet::train
