// hsanet compare: several runs side by side, as the paper shows its three networks.
//   Figures 5-8: train loss, train accuracy, validation loss, validation accuracy per epoch, one
//                SVG each with one curve per run (compare_train_loss.svg, ...).
//   Table 1:     average and best validation accuracy, final accuracy, and precision, recall and F1
//                as macro and weighted averages (from each run's report.json).
//   Table 2:     parameters, params MB and forward/backward pass MB (nn::summarize of each run's
//                model at its input size, torchsummary's definitions).
#include <fmt/printf.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "apps/train/comparison_page.h"
#include "apps/train/history.h"
#include "apps/train/json_file.h"
#include "apps/train/svg_plot.h"
#include "apps/train/tools.h"
#include "apps/train/train_config.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "models/resnet.h"
#include "nn/summary.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

struct RunSummary {
  std::string label;    // the run directory's name
  std::string dir;
  History history;
  nlohmann::json report;  // empty when the run has not finished
  TrainConfig config;
  int classes = 0;
};

RunSummary read_run(const std::string& dir) {
  RunSummary r;
  r.dir = dir;
  r.label = fs::path(dir).lexically_normal().filename().string();
  if (r.label.empty()) r.label = fs::path(dir).lexically_normal().parent_path().filename().string();
  if (!fs::exists(dir + "/metrics.csv")) throw std::runtime_error("'" + dir + "' holds no metrics.csv (not a run directory?)");
  r.history = read_metrics_csv(dir + "/metrics.csv");
  if (fs::exists(dir + "/report.json")) r.report = read_json_file(dir + "/report.json");
  if (fs::exists(dir + "/config.json")) {
    apply_json(read_json_file(dir + "/config.json"), r.config, dir + "/config.json");
  } else if (r.report.is_object()) {
    // A run of the PyTorch peer (train_torch.py): its report names the model and the input size.
    r.config.model.name = r.report.value("model", r.config.model.name);
    r.config.img_size = r.report.value("img_size", r.config.img_size);
  }
  if (fs::exists(dir + "/classes.txt"))
    r.classes = static_cast<int>(data::read_class_list(dir + "/classes.txt").size());
  else if (r.report.is_object() && r.report.contains("per_class"))
    r.classes = static_cast<int>(r.report["per_class"].size());
  return r;
}

std::string num(const nlohmann::json& j, const char* key, const char* sub = nullptr) {
  const nlohmann::json* v = j.is_object() && j.contains(key) ? &j.at(key) : nullptr;
  if (v && sub) v = v->is_object() && v->contains(sub) ? &v->at(sub) : nullptr;
  if (!v || !v->is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v->get<double>());
  return buf;
}

std::string table1(const std::vector<RunSummary>& runs) {
  std::string t =
      "Table 1: validation accuracy and the classification report of the final epoch\n\n"
      "| run | model | epochs | val acc avg | val acc max | accuracy | macro P | macro R | macro F1 | weighted P | weighted R | weighted F1 |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RunSummary& r : runs) {
    const ValSummary v = summarize_val(r.history);
    std::string head;
    head = fmt::sprintf("| %s | %s | %zu | %.4f | %.4f | ", r.label.c_str(), r.config.model.name.c_str(),
                  r.history.size(), v.avg, v.max);
    t += head + num(r.report, "accuracy") + " | " + num(r.report, "macro_avg", "precision") + " | " +
         num(r.report, "macro_avg", "recall") + " | " + num(r.report, "macro_avg", "f1") + " | " +
         num(r.report, "weighted_avg", "precision") + " | " + num(r.report, "weighted_avg", "recall") + " | " +
         num(r.report, "weighted_avg", "f1") + " |\n";
  }
  return t;
}

std::string table2(const std::vector<RunSummary>& runs) {
  std::string t =
      "Table 2: model size and the memory of one image's forward and backward pass (torchsummary's definitions)\n\n"
      "| run | model | input | params | params MB | fwd/bwd MB | GFLOPs |\n|---|---|---|---|---|---|---|\n";
  for (const RunSummary& r : runs) {
    const models::ModelConfig mc = r.config.model_config(r.classes > 0 ? r.classes : 26);
    auto model = models::build_model(mc);
    const nn::ModelSummary s = nn::summarize(*model, mc.height, mc.width);
    std::string row;
    row = fmt::sprintf("| %s | %s | %dx%d | %lld | %.2f | %.2f | %.3f |\n", r.label.c_str(), mc.name.c_str(),
                  mc.height, mc.width, static_cast<long long>(s.params), s.params_mb, s.fwd_bwd_mb, s.gflops);
    t += row;
  }
  return t;
}

std::string figure(const std::vector<RunSummary>& runs, const std::string& path, const std::string& title,
                   const std::string& y_label, double EpochRecord::*field, bool log_y = false) {
  std::vector<Series> series;
  for (const RunSummary& r : runs) {
    Series s{r.label, {}, {}};
    for (const EpochRecord& e : r.history) {
      s.x.push_back(e.epoch);
      s.y.push_back(e.*field);
    }
    series.push_back(std::move(s));
  }
  std::string svg = svg_line_plot(series, {.title = title, .y_label = y_label, .log_y = log_y});
  io::write_file_atomically(path, svg);
  return svg;
}

}  // namespace

int compare_command(const CompareOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.runs.empty()) throw std::invalid_argument("compare: name at least one run directory");
  std::vector<RunSummary> runs;
  for (const std::string& dir : opt.runs) runs.push_back(read_run(dir));
  fs::create_directories(opt.out);
  std::string d = opt.out;
  d += '/';
  const std::vector<std::string> figures = {
      figure(runs, d + "compare_train_loss.svg", "Figure 5: training loss", "cross-entropy (log scale)", &EpochRecord::train_loss, true),
      figure(runs, d + "compare_train_acc.svg", "Figure 6: training accuracy", "top-1 accuracy", &EpochRecord::train_acc),
      figure(runs, d + "compare_val_loss.svg", "Figure 7: validation loss", "cross-entropy (log scale)", &EpochRecord::val_loss, true),
      figure(runs, d + "compare_val_acc.svg", "Figure 8: validation accuracy", "top-1 accuracy", &EpochRecord::val_acc)};
  std::string text = table1(runs);
  if (opt.model_tables) {
    text += '\n';
    text += table2(runs);
  }
  io::write_file_atomically(d + "comparison.md", text);
  out << text << "\nwrote " << d << "compare_train_loss.svg, compare_train_acc.svg, compare_val_loss.svg, "
      << "compare_val_acc.svg and comparison.md\n";
  if (opt.html) {
    std::vector<std::string> labels;
    for (const RunSummary& r : runs) labels.push_back(r.label);
    io::write_file_atomically(d + "comparison.html", comparison_html(labels, text, figures));
    out << "wrote " << d << "comparison.html\n";
  }
  for (const RunSummary& r : runs)
    if (r.report.is_null()) err << "hsanet compare: note: " << r.dir << " has no report.json yet (unfinished run)\n";
  return 0;
}

}  // namespace hsanet::train
