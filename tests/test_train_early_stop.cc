// Early stopping: the count of epochs without improvement, worked by hand, and a run that stops,
// says why, and stays stopped when resumed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apps/train/early_stopping.h"
#include "apps/train/plateau_lr.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;

History history_of(const std::vector<std::pair<double, double>>& loss_acc) {
  History h;
  for (const auto& [loss, acc] : loss_acc) {
    EpochRecord r;
    r.epoch = static_cast<int>(h.size()) + 1;
    r.val_loss = loss;
    r.val_acc = acc;
    h.push_back(r);
  }
  return h;
}

TEST(EarlyStopping, CountsEpochsSinceTheLastRealImprovement) {
  // val_loss: 2.0 best, 1.5 better, 1.49 better by 0.01, 1.6 worse, 1.495 not below 1.49.
  const History h = history_of({{2.0, 0.1}, {1.5, 0.3}, {1.49, 0.3}, {1.6, 0.25}, {1.495, 0.31}});
  EXPECT_EQ(epochs_without_improvement(h, "val_loss", 0.0), 2);
  EXPECT_EQ(epochs_without_improvement(h, "val_loss", 0.05), 3);  // 1.49 is not 0.05 below 1.5
  // val_acc: 0.3 at epoch 2; 0.31 beats it by 0.01.
  EXPECT_EQ(epochs_without_improvement(h, "val_acc", 0.0), 0);
  EXPECT_EQ(epochs_without_improvement(h, "val_acc", 0.02), 3);
  EXPECT_EQ(early_stop_reason(h, 3, "val_loss", 0.0), "");
  EXPECT_EQ(early_stop_reason(h, 2, "val_loss", 0.0),
            "early stopping: val_loss has not improved by more than 0 for 2 epochs (--patience 2)");
  EXPECT_EQ(early_stop_reason(h, 0, "val_loss", 0.0), "");  // off
  EXPECT_EQ(epochs_without_improvement({}, "val_loss", 0.0), 0);
}

// --select-by ema: the EMA's column is the one judged.
TEST(EarlyStopping, FollowsTheEmaWhenSelected) {
  History h = history_of({{2.0, 0.1}, {1.5, 0.3}, {1.4, 0.4}});
  h[0].ema_val_loss = 1.0, h[1].ema_val_loss = 1.1, h[2].ema_val_loss = 1.2;
  EXPECT_EQ(epochs_without_improvement(h, "val_loss", 0.0, /*ema=*/false), 0);
  EXPECT_EQ(epochs_without_improvement(h, "val_loss", 0.0, /*ema=*/true), 2);
  EXPECT_EQ(early_stop_reason(h, 2, "val_loss", 0.0, true),
            "early stopping: the EMA's val_loss has not improved by more than 0 for 2 epochs (--patience 2)");
}

// --sched plateau: each epoch's lr replayed from the history (PyTorch's ReduceLROnPlateau).
TEST(PlateauSchedule, LrOfEachEpochFromTheHistoryAlone) {
  TrainConfig cfg;
  cfg.lr = 0.1;
  cfg.plateau_patience = 1;
  cfg.plateau_factor = 0.5;
  cfg.plateau_min_lr = 0.03;
  // val_loss 2, 1.5 (better), 1.6, 1.5 (not below 1.5 (1 - 1e-4)): 2 bad epochs > 1 -> cut after
  // epoch 4; 1.4, 1.45, 1.45 -> cut after epoch 7, floored at 0.03.
  const History h = history_of({{2.0, 0}, {1.5, 0}, {1.6, 0}, {1.5, 0}, {1.4, 0}, {1.45, 0}, {1.45, 0}});
  const std::vector<double> lrs = plateau_lrs(h, cfg);
  ASSERT_EQ(lrs.size(), 8u);  // epochs 1 to 8
  const std::vector<double> want = {0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03};
  for (size_t e = 0; e < want.size(); ++e) EXPECT_DOUBLE_EQ(lrs[e], want[e]) << "epoch " << e + 1;
  // Mode max on val_acc, and the EMA's values with --select-by ema.
  cfg.monitor = "val_acc";
  cfg.plateau_min_lr = 0;
  History a = history_of({{0, 0.5}, {0, 0.5}, {0, 0.5}});
  EXPECT_DOUBLE_EQ(plateau_lrs(a, cfg).back(), 0.05);
  for (EpochRecord& r : a) r.ema_val_acc = 0.1 * r.epoch;  // rising
  cfg.ema = 0.9;
  cfg.select_by = "ema";
  EXPECT_DOUBLE_EQ(plateau_lrs(a, cfg).back(), 0.1);
}

TEST(EarlyStopping, ARunStopsSaysWhyAndStaysStoppedOnResume) {
  TempDir tmp;
  testing::copy_faces(tmp / "faces", 3);
  const std::string run = tmp / "run";
  // lr 1e-9 keeps the weights put (only batch norm's running statistics move), and a patience of
  // 1 stops the run at the first epoch that does not improve (deterministic at one thread).
  const auto args = testing::concat({"--data", tmp / "faces", "--out", run, "--epochs", "20", "--batch-size", "8",
                                     "--lr", "1e-9", "--threads", "1", "--patience", "1"},
                                    testing::tiny_model_args());
  testing::RunResult r = testing::run_cpu_train(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("early stopping: val_loss has not improved by more than 0 for 1 epochs (--patience 1): "
                       "stopped after epoch"),
            std::string::npos)
      << r.out;
  nlohmann::json report = nlohmann::json::parse(testing::slurp(run + "/report.json"));
  const int epochs_run = report["epochs_run"].get<int>();
  EXPECT_LT(epochs_run, 20);
  EXPECT_NE(report["stop_reason"].get<std::string>().find("early stopping"), std::string::npos);

  r = testing::run_cpu_train({"--resume", run});
  ASSERT_EQ(r.code, 0) << r.err;
  report = nlohmann::json::parse(testing::slurp(run + "/report.json"));
  EXPECT_EQ(report["epochs_run"].get<int>(), epochs_run);  // nothing more was trained
}

}  // namespace
}  // namespace hsanet::train
