// Training checkpoints and the run's small files: a checkpoint round-trips the model, the
// optimiser and the run's state; a writer SIGKILLed at random moments always leaves a loadable,
// whole checkpoint; metrics.csv round-trips; the classification report matches sklearn's
// documented example; progress lines read as intended.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "apps/train/checkpoint.h"
#include "apps/train/history.h"
#include "apps/train/metrics.h"
#include "apps/train/progress.h"
#include "apps/train/run_setup.h"
#include "apps/train/svg_plot.h"
#include "autograd/functions_loss.h"
#include "base/random.h"
#include "io/atomic_file.h"
#include "kill_writer.h"
#include "models/resnet.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;

RunIdentity tiny_run() {
  RunIdentity id;
  id.config.model.width_mult = 0.125;
  id.config.model.blocks = {1, 1, 1, 1};
  id.config.img_size = 32;
  id.config.lr = 0.03;
  id.config.seed = 11;
  id.classes = {"anna", "ben", "cleo"};
  id.model = id.config.model_config(3);
  return id;
}

// One SGD step so that the momentum buffers exist.
void one_step(nn::Module& model, nn::Optimizer& opt) {
  Rng rng(3);
  Tensor x = Tensor::randn({2, 32, 32, 3}, rng);
  opt.zero_grad();
  cross_entropy(model(x), {0, 2}).backward();
  opt.step();
}

TEST(TrainCheckpoint, RoundTripsModelOptimiserAndState) {
  TempDir tmp;
  const RunIdentity id = tiny_run();
  auto model = models::build_model(id.model, /*seed=*/1);
  auto opt = make_optimizer(id.config, *model);
  one_step(*model, *opt);
  TrainingState st;
  st.epoch = 2;
  st.global_step = 17;
  st.best_val_acc = 2.0 / 3.0;
  st.best_epoch = 1;
  st.history = {{1, 1.5, 0.25, 1.25, 2.0 / 3.0, 0.03, 1.5}, {2, 1.0, 0.5, 1.1, 1.0 / 3.0, 0.0075, 1.25}};
  const std::string path = tmp / "last.safetensors";
  save_training_checkpoint(path, *model, *opt, st, id);

  auto model2 = models::build_model(id.model, /*seed=*/2);  // other weights
  auto opt2 = make_optimizer(id.config, *model2);
  const TrainingState back = load_training_checkpoint(path, *model2, *opt2);
  EXPECT_EQ(back.epoch, 2);
  EXPECT_EQ(back.global_step, 17);
  EXPECT_EQ(back.best_val_acc, 2.0 / 3.0);  // exact: JSON keeps doubles round-trip
  EXPECT_EQ(back.best_epoch, 1);
  ASSERT_EQ(back.history.size(), 2u);
  EXPECT_EQ(back.history[1].val_acc, 1.0 / 3.0);
  const auto a = model->state_dict(), b = model2->state_dict();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.to_vector(), b[i].second.to_vector()) << a[i].first;
  const auto sa = opt->state(), sb = opt2->state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_EQ(sa[i].second.to_vector(), sb[i].second.to_vector()) << sa[i].first;
  }
  const io::SafeTensorsFile f = io::read_safetensors(path);
  EXPECT_TRUE(f.contains("conv1.weight"));
  EXPECT_TRUE(f.contains("optimizer.step"));
  EXPECT_TRUE(f.contains("optimizer.momentum_buffer.conv1.weight"));
  const RunIdentity rid = read_run_identity(f, path);
  EXPECT_EQ(rid.classes, id.classes);
  EXPECT_EQ(rid.model.num_classes, 3);
  EXPECT_EQ(rid.config.lr, 0.03);
  EXPECT_EQ(rid.config.seed, 11u);

  // Plain weights (no optimiser state, no metadata) are not a training checkpoint.
  io::save_state_dict(tmp / "plain.safetensors", model->state_dict());
  EXPECT_THROW(load_training_checkpoint(tmp / "plain.safetensors", *model2, *opt2), std::runtime_error);
  EXPECT_FALSE(is_training_checkpoint(io::read_safetensors(tmp / "plain.safetensors")));
  // A non-finite weight is refused before the file is touched.
  const std::string before = testing::slurp(path);
  model->fc->weight.data()[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(save_training_checkpoint(path, *model, *opt, st, id), std::domain_error);
  EXPECT_TRUE(testing::slurp(path) == before);
}

// A child writes checkpoints in a loop, each one entirely filled with its epoch number, and is
// SIGKILLed at random moments. After every kill the checkpoint must load (model strictly, the
// optimiser state too) and be one whole checkpoint: every value equals its metadata's epoch.
TEST(TrainCheckpoint, SigkilledWriterLeavesALoadableCheckpoint) {
  TempDir tmp;
  const RunIdentity id = tiny_run();
  auto model = models::build_model(id.model, /*seed=*/1);
  auto opt = make_optimizer(id.config, *model);
  one_step(*model, *opt);
  const std::string path = tmp / "last.safetensors";
  // Raw loops: the child must not enter an OpenMP region (the runtime is not fork-safe).
  auto write = [&](int epoch) {
    auto fill = [&](Tensor t) {
      float* p = t.data();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(epoch);
    };
    for (auto& [name, t] : model->state_dict()) fill(t);
    for (auto& [name, t] : opt->state())
      if (name != "step") fill(t);
    TrainingState st;
    st.epoch = epoch;
    st.global_step = epoch * 10;
    for (int e = 1; e <= epoch; ++e) st.history.push_back({e, 1, 0.5, 1, 0.5, 0.01, 1});
    save_training_checkpoint(path, *model, *opt, st, id);
  };
  write(0);

  std::mt19937 gen(20240611);
  std::uniform_int_distribution<int> delay_ms(5, 120);
  int last = 0;
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(kill_writer_midway([&](int64_t e) { write(static_cast<int>(e)); }, last + 1,
                                   delay_ms(gen)));

    auto fresh = models::build_model(id.model, /*seed=*/2);
    auto fresh_opt = make_optimizer(id.config, *fresh);
    const TrainingState st = load_training_checkpoint(path, *fresh, *fresh_opt);  // throws if torn
    EXPECT_GE(st.epoch, last);
    EXPECT_EQ(st.global_step, st.epoch * 10LL);
    EXPECT_EQ(static_cast<int>(st.history.size()), st.epoch);
    for (auto& [name, t] : fresh->state_dict())
      for (float v : t.to_vector()) ASSERT_EQ(v, static_cast<float>(st.epoch)) << name << ", round " << round;
    for (auto& [name, t] : fresh_opt->state()) {
      if (name == "step") continue;
      for (float v : t.to_vector()) ASSERT_EQ(v, static_cast<float>(st.epoch)) << name << ", round " << round;
    }
    last = st.epoch;
  }
  EXPECT_GT(last, 0) << "the writer never finished a checkpoint: the kills came too early to test anything";
  io::remove_stale_temp_files(path);
}

TEST(TrainCheckpoint, MetricsCsvRoundTripsAndRejectsDamage) {
  TempDir tmp;
  const History h = {{1, 3.25, 0.125, 3.5, 0.1, 0.005, 12.5}, {2, 2.5, 0.25, 2.75, 0.3, 0.004, 11.25}};
  write_metrics_csv(tmp / "m.csv", h);
  EXPECT_EQ(testing::slurp(tmp / "m.csv").substr(0, 64), "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5\n");
  const History back = read_metrics_csv(tmp / "m.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back[1].val_acc, 0.3);
  EXPECT_DOUBLE_EQ(back[0].seconds, 12.5);
  const ValSummary s = summarize_val(h);
  EXPECT_DOUBLE_EQ(s.avg, 0.2);
  EXPECT_DOUBLE_EQ(s.max, 0.3);
  EXPECT_EQ(s.max_epoch, 2);
  EXPECT_EQ(history_from_json(history_to_json(h)).size(), 2u);

  std::ofstream(tmp / "bad.csv") << "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2,x,4,5,6,7\n";
  try {
    read_metrics_csv(tmp / "bad.csv");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: 'x' is not a number"), std::string::npos) << e.what();
  }
}

// sklearn's documentation example: y_true [0 1 2 2 2], y_pred [0 0 2 2 1].
TEST(TrainMetrics, ClassificationReportMatchesSklearnExample) {
  const ClassificationReport r = classification_report({0, 1, 2, 2, 2}, {0, 0, 2, 2, 1}, {"class 0", "class 1", "class 2"});
  EXPECT_NEAR(r.per_class[0].precision, 0.5, 1e-12);
  EXPECT_NEAR(r.per_class[0].recall, 1.0, 1e-12);
  EXPECT_NEAR(r.per_class[0].f1, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(r.per_class[1].precision, 0.0);  // zero_division=0
  EXPECT_NEAR(r.per_class[2].recall, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.per_class[2].f1, 0.8, 1e-12);
  EXPECT_NEAR(r.accuracy, 0.6, 1e-12);
  EXPECT_NEAR(r.macro_avg.precision, 0.5, 1e-12);
  EXPECT_NEAR(r.macro_avg.recall, 5.0 / 9.0, 1e-12);
  EXPECT_NEAR(r.macro_avg.f1, (2.0 / 3.0 + 0.8) / 3.0, 1e-12);
  EXPECT_NEAR(r.weighted_avg.precision, 0.7, 1e-12);
  EXPECT_NEAR(r.weighted_avg.recall, 0.6, 1e-12);
  EXPECT_NEAR(r.weighted_avg.f1, (2.0 / 3.0 + 3 * 0.8) / 5.0, 1e-12);
  EXPECT_EQ(r.confusion[2], (std::vector<int>{0, 1, 2}));
  // The text as sklearn prints it (two decimals).
  EXPECT_NE(r.to_text().find("     class 2      1.00      0.67      0.80         3"), std::string::npos) << r.to_text();
  EXPECT_NE(r.to_text().find("   macro avg      0.50      0.56      0.49         5"), std::string::npos) << r.to_text();
  EXPECT_THROW(classification_report({0, 3}, {0, 0}, {"a", "b"}), std::invalid_argument);
}

TEST(TrainProgress, LinesAndDurations) {
  EXPECT_EQ(format_duration(41.4), "41s");
  EXPECT_EQ(format_duration(187), "3:07");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  BatchProgress p{3, 50, 17, 78, 2.34567, 0.3125, 12.34, 0.0048125, 3.2, 41};
  EXPECT_EQ(format_batch_line(p), "epoch 3/50 [17/78] loss 2.3457 acc  31.2% 12.3 img/s lr 0.004812 wait 3 ms ETA 41s");
  std::ostringstream plain, live;
  ProgressLine pl(plain, /*tty=*/false, 10), tl(live, /*tty=*/true, 10);
  for (int b = 1; b <= 12; ++b) {
    p.batch = b;
    p.batches = 12;
    pl.update(p);
    tl.update(p);
  }
  tl.end_epoch();
  // Plain: batches 10 and 12 (the last); live: one rewritten line, cleared at the end.
  const std::string ps = plain.str(), ls = live.str();
  EXPECT_EQ(std::count(ps.begin(), ps.end(), '\n'), 2);
  EXPECT_EQ(ls.find('\n'), std::string::npos);
  EXPECT_EQ(std::count(ls.begin(), ls.end(), '\r'), 13);
}

// The curves: a linear axis with round ticks; a log axis (losses) with decades, skipping values
// it cannot show; every point of a series in its polyline.
TEST(TrainPlot, LinearAndLogAxes) {
  const Series acc{"val <acc>", {1, 2, 3, 4}, {0.1, 0.35, 0.6, 0.9}};
  const std::string lin = svg_line_plot({acc}, {.title = "A & B", .y_label = "accuracy"});
  EXPECT_EQ(lin.rfind("<svg", 0), 0u);
  EXPECT_NE(lin.find(">A &amp; B<"), std::string::npos);
  EXPECT_NE(lin.find(">val &lt;acc&gt;<"), std::string::npos);
  for (const char* tick : {">0.1<", ">0.2<", ">0.5<", ">0.9<"}) EXPECT_NE(lin.find(tick), std::string::npos) << tick;
  const size_t pts = lin.find("points=\"");
  ASSERT_NE(pts, std::string::npos);
  const std::string points = lin.substr(pts, lin.find('"', pts + 8) - pts);
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 4);

  const Series loss{"loss", {1, 2, 3, 4}, {2798.7, 3.5, 0.0, 0.08}};  // 0 cannot sit on a log axis
  const std::string log = svg_line_plot({loss}, {.title = "Loss", .y_label = "loss", .log_y = true});
  for (const char* tick : {">0.01<", ">0.1<", ">1<", ">10<", ">100<", ">1000<", ">10000<"})
    EXPECT_NE(log.find(tick), std::string::npos) << tick;
  EXPECT_EQ(log.find(">20<"), std::string::npos) << "no minor ticks over six decades";
  const size_t lp = log.find("points=\"");
  const std::string lpoints = log.substr(lp, log.find('"', lp + 8) - lp);
  EXPECT_EQ(std::count(lpoints.begin(), lpoints.end(), ','), 3);
}

}  // namespace
}  // namespace hsanet::train
