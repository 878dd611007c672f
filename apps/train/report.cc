#include "apps/train/report.h"

#include <cmath>

#include <fmt/printf.h>
#include <cstdio>

#include "apps/train/confusion_svg.h"
#include "apps/train/run_report.h"
#include "apps/train/svg_plot.h"
#include "io/atomic_file.h"

namespace hsanet::train {

std::string write_evaluation_files(const std::string& dir, const std::string& prefix,
                                   const std::string& heading, const data::ImageFolder& dataset,
                                   const EvalResult& result, const nlohmann::json& extra) {
  ClassificationReport rep = classification_report(result.truth, result.predicted, dataset.classes());
  const std::string text =
      heading + "\n" + rep.to_text() + fmt::sprintf("\ntop-5 accuracy %.4f\n", result.top5);
  io::write_file_atomically(dir + "/" + prefix + "report.txt", text);
  nlohmann::json j = nlohmann::json::parse(rep.to_json());
  j["loss"] = result.loss;
  j["top1_accuracy"] = result.accuracy;
  j["top5_accuracy"] = result.top5;
  j.update(extra);
  io::write_file_atomically(dir + "/" + prefix + "report.json", j.dump(1) + "\n");
  write_confusion_csv(dir + "/" + prefix + "confusion.csv", rep);
  io::write_file_atomically(dir + "/" + prefix + "confusion.svg", svg_confusion_matrix(rep.classes, rep.confusion));
  write_predictions_csv(dir + "/" + prefix + "predictions.csv", dataset, result);
  return text;
}

std::string val_summary_line(const History& history) {
  const ValSummary s = summarize_val(history);
  std::string buf;
  buf = fmt::sprintf("validation accuracy over %zu epochs: average %.4f, best %.4f (epoch %d), final %.4f",
                history.size(), s.avg, s.max, s.max_epoch, history.empty() ? 0.0 : history.back().val_acc);
  return buf;
}

void write_report_page(const std::string& run_dir, const std::string& data, RunLog& log) {
  RunReportOptions opt;
  opt.data = data;
  std::vector<std::string> notes;
  try {
    write_run_report(run_dir, opt, &notes);
  } catch (const std::exception& e) {
    log.line(std::string("report.html not written: ") + e.what() + " (hsanet report RUN_DIR retries)");
    return;
  }
  for (const std::string& n : notes) log.file_line("report.html: " + n);
}

void write_curves(const std::string& dir, const History& history) {
  Series train_loss{"train loss", {}, {}}, val_loss{"validation loss", {}, {}};
  Series train_acc{"train accuracy", {}, {}}, val_acc{"validation accuracy", {}, {}};
  for (const EpochRecord& r : history) {
    for (Series* s : {&train_loss, &val_loss, &train_acc, &val_acc}) s->x.push_back(r.epoch);
    train_loss.y.push_back(r.train_loss);
    val_loss.y.push_back(r.val_loss);
    train_acc.y.push_back(r.train_acc);
    val_acc.y.push_back(r.val_acc);
  }
  std::vector<Series> losses{train_loss, val_loss}, accuracies{train_acc, val_acc};
  add_ema_curves(history, losses, accuracies, "EMA validation accuracy");  // with --ema
  io::write_file_atomically(dir + "/loss.svg",
                        svg_line_plot(losses, {.title = "Loss per epoch", .y_label = "cross-entropy (log scale)", .log_y = true}));
  io::write_file_atomically(dir + "/accuracy.svg",
                        svg_line_plot(accuracies, {.title = "Accuracy per epoch", .y_label = "top-1 accuracy"}));
}

}  // namespace hsanet::train
