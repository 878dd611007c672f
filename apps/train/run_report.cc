#include "apps/train/run_report.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <tuple>

#include "apps/train/confusion_svg.h"
#include "apps/train/csv_table.h"
#include "apps/train/history.h"
#include "apps/train/html_text.h"
#include "apps/train/json_file.h"
#include "apps/train/report_images.h"
#include "apps/train/report_page.h"
#include "apps/train/svg_plot.h"
#include "apps/train/train_config.h"
#include "io/atomic_file.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

std::string missing(const std::string& file, const std::string& how) {
  return html_note(file + " is not in this run directory; " + how);
}

std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string config_section(const nlohmann::json& config) {
  if (!config.is_object()) return missing("config.json", "cpu_train writes it when a run starts.");
  // Three tables side by side: a full configuration is some forty short rows.
  std::vector<std::vector<std::string>> rows;
  for (auto it = config.begin(); it != config.end(); ++it) rows.push_back({it.key(), value_text(it.value())});
  const size_t per = (rows.size() + 2) / 3;
  std::string html = "<div class=\"side\">\n";
  for (size_t start = 0; start < rows.size(); start += per)
    html += html_table({"option", "value"}, {rows.begin() + start, rows.begin() + std::min(rows.size(), start + per)});
  return html + "</div>\n";
}

std::string curves_section(const History& h) {
  if (h.empty()) return missing("metrics.csv", "cpu_train writes it after every epoch.");
  Series tl{"train loss", {}, {}}, vl{"validation loss", {}, {}}, ta{"train accuracy", {}, {}},
      va{"validation top-1", {}, {}}, v5{"validation top-5", {}, {}}, lr{"learning rate", {}, {}};
  for (const EpochRecord& r : h) {
    for (Series* s : {&tl, &vl, &ta, &va, &v5, &lr}) s->x.push_back(r.epoch);
    tl.y.push_back(r.train_loss), vl.y.push_back(r.val_loss), ta.y.push_back(r.train_acc);
    va.y.push_back(r.val_acc), v5.y.push_back(r.val_top5), lr.y.push_back(r.lr);
  }
  std::vector<Series> losses{tl, vl}, accuracies{ta, va, v5};
  add_ema_curves(h, losses, accuracies, "EMA validation top-1");
  return "<div class=\"figures\">\n" +
         svg_line_plot(losses, {.title = "Loss per epoch", .y_label = "cross-entropy (log scale)", .width = 540, .height = 330, .log_y = true}) +
         svg_line_plot(accuracies, {.title = "Accuracy per epoch", .y_label = "accuracy", .width = 540, .height = 330}) +
         svg_line_plot({lr}, {.title = "Learning rate", .y_label = "learning rate", .width = 540, .height = 330}) + "</div>\n";
}

std::string number(const nlohmann::json& j, const char* key, const char* format = "{:.4f}") {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return "-";
  return fmt::format(fmt::runtime(format), j.at(key).get<double>());
}

std::string accuracy_section(const nlohmann::json& report, const History& h) {
  if (!report.is_object()) return missing("report.json", "cpu_train writes it when the run finishes.");
  std::string top5 = number(report, "top5_accuracy");
  if (top5 == "-" && !h.empty() && std::isfinite(h.back().val_top5)) top5 = fmt::format("{:.4f}", h.back().val_top5);
  std::string html = "<p><span class=\"big\" id=\"top1\">top-1 " + html_escape(number(report, "accuracy")) +
                     "</span><span class=\"big\" id=\"top5\">top-5 " + html_escape(top5) + "</span></p>\n";
  html += html_table({"validation loss", "average val accuracy over the epochs", "best val accuracy", "best epoch", "epochs"},
                     {{number(report, "loss"), number(report, "val_acc_avg"), number(report, "val_acc_max"),
                       number(report, "val_acc_max_epoch", "{:.0f}"), std::to_string(h.size())}});
  return html;
}

std::string classification_section(const nlohmann::json& report) {
  if (!report.is_object() || !report.contains("per_class"))
    return missing("report.json", "cpu_train writes it when the run finishes.");
  auto row = [](const std::string& name, const nlohmann::json& s) {
    return std::vector<std::string>{name, number(s, "precision"), number(s, "recall"), number(s, "f1"),
                                    number(s, "support", "{:.0f}")};
  };
  std::vector<std::vector<std::string>> rows;
  const nlohmann::json& per = report.at("per_class");
  std::vector<std::string> order;
  if (report.contains("classes") && report.at("classes").is_array())
    for (const auto& c : report.at("classes")) order.push_back(value_text(c));
  else
    for (auto it = per.begin(); it != per.end(); ++it) order.push_back(it.key());
  for (const std::string& c : order)
    if (per.contains(c)) rows.push_back(row(c, per.at(c)));
  if (report.contains("macro_avg")) rows.push_back(row("macro avg", report.at("macro_avg")));
  if (report.contains("weighted_avg")) rows.push_back(row("weighted avg", report.at("weighted_avg")));
  // Many identities make a long table: it scrolls in a box of its own.
  return "<div class=\"scroll\">\n" + html_table({"class", "precision", "recall", "f1", "support"}, rows) + "</div>\n";
}

struct Confusion {
  std::vector<std::string> classes;
  std::vector<std::vector<int>> counts;
};

Confusion read_confusion(const std::string& path) {
  const std::vector<CsvRow> rows = read_csv_file(path);
  Confusion c;
  if (rows.empty()) throw std::runtime_error(path + ": empty");
  c.classes.assign(rows[0].begin() + 1, rows[0].end());
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].size() != rows[0].size())
      throw std::runtime_error(fmt::format("{}: row {}: expected {} columns, found {}", path, i + 1, rows[0].size(), rows[i].size()));
    std::vector<int> r;
    for (size_t k = 1; k < rows[i].size(); ++k) {
      try {
        r.push_back(std::stoi(rows[i][k]));
      } catch (const std::exception&) {
        throw std::runtime_error(fmt::format("{}: row {}: '{}' is not a count", path, i + 1, rows[i][k]));
      }
    }
    c.counts.push_back(r);
  }
  if (c.counts.size() != c.classes.size())
    throw std::runtime_error(fmt::format("{}: {} rows for {} classes", path, c.counts.size(), c.classes.size()));
  return c;
}

std::string confused_pairs_section(const Confusion& c) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::tuple<int, size_t, size_t>> pairs;  // (count, true, predicted)
  for (size_t t = 0; t < c.counts.size(); ++t)
    for (size_t p = 0; p < c.counts[t].size(); ++p)
      if (t != p && c.counts[t][p] > 0) pairs.emplace_back(c.counts[t][p], t, p);
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  if (pairs.empty()) return html_note("No validation image was confused with another identity.");
  for (size_t i = 0; i < pairs.size() && i < 15; ++i)
    rows.push_back({c.classes[std::get<1>(pairs[i])], c.classes[std::get<2>(pairs[i])], std::to_string(std::get<0>(pairs[i]))});
  return html_table({"true identity", "predicted as", "images"}, rows);
}

}  // namespace

std::string run_report_html(const std::string& run_dir, const RunReportOptions& opt, std::vector<std::string>* notes) {
  const std::string d = run_dir + "/";
  if (!fs::is_directory(run_dir)) throw std::runtime_error("'" + run_dir + "' is not a folder");
  if (!fs::exists(d + "metrics.csv") && !fs::exists(d + "report.json"))
    throw std::runtime_error("'" + run_dir + "' holds neither metrics.csv nor report.json (not a run directory?)");
  auto note = [&](const std::string& s) {
    if (notes) notes->push_back(s);
  };
  nlohmann::json config, report;
  if (fs::exists(d + "config.json")) config = read_json_file(d + "config.json"); else note("no config.json");
  if (fs::exists(d + "report.json")) report = read_json_file(d + "report.json"); else note("no report.json");
  History history;
  if (fs::exists(d + "metrics.csv")) history = read_metrics_csv(d + "metrics.csv"); else note("no metrics.csv");

  std::vector<PageSection> sections;
  sections.push_back({"config", "Configuration", config_section(config)});
  sections.push_back({"curves", "Loss, accuracy and learning rate", curves_section(history)});
  sections.push_back({"accuracy", "Top-1 and top-5 accuracy", accuracy_section(report, history)});
  sections.push_back({"classification", "Classification report", classification_section(report)});
  std::string heat, pairs;
  if (fs::exists(d + "confusion.csv")) {
    const Confusion c = read_confusion(d + "confusion.csv");
    heat = "<div class=\"figures\">" + svg_confusion_matrix(c.classes, c.counts) + "</div>\n";
    pairs = confused_pairs_section(c);
  } else {
    heat = pairs = missing("confusion.csv", "cpu_train writes it when the run finishes.");
    note("no confusion.csv");
  }
  sections.push_back({"confusion", "Confusion matrix", heat});
  sections.push_back({"confused-pairs", "Most-confused pairs", pairs});

  std::string gallery;
  if (fs::exists(d + "predictions.csv")) {
    std::string root = opt.data;
    if (root.empty() && config.is_object()) root = config.value("data", std::string());
    if (root.empty()) root = default_data_root();
    const auto items = gallery_order(read_csv_file(d + "predictions.csv"), d + "predictions.csv");
    if (root.empty() || !fs::is_directory(root)) {
      gallery = html_note("The data folder '" + root + "' (config.json's data) is not here, so the images cannot be shown; "
                          "rebuild with hsanet report RUN_DIR --data FOLDER.");
      note("data folder '" + root + "' not found: no gallery images");
    } else {
      gallery = gallery_html(items, root, opt.gallery_limit, opt.thumbnail_side, notes);
    }
  } else {
    gallery = missing("predictions.csv", "cpu_train writes it when the run finishes.");
    note("no predictions.csv");
  }
  sections.push_back({"gallery", "Validation images (wrong predictions first)", gallery});
  sections.push_back({"explain", "Attention maps and Grad-CAM", explain_html(run_dir)});

  std::string name = fs::path(run_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(run_dir).lexically_normal().parent_path().filename().string();
  std::string subtitle = report.is_object() ? report.value("model", std::string()) : std::string();
  if (subtitle.empty() && config.is_object()) subtitle = config.value("model", std::string());
  subtitle += fmt::format(", {} epochs", history.size());
  if (report.is_object() && report.contains("init_from") && report.at("init_from").is_string())
    subtitle += ", started from " + report.at("init_from").get<std::string>() + " (init_from.json lists what it gave)";
  return html_page("Run report: " + name, subtitle, sections);
}

std::string write_run_report(const std::string& run_dir, const RunReportOptions& opt, std::vector<std::string>* notes) {
  const std::string html = run_report_html(run_dir, opt, notes);
  const std::string path = run_dir + "/report.html";
  io::write_file_atomically(path, html);
  return path;
}

void add_ema_curves(const History& history, std::vector<Series>& losses, std::vector<Series>& accuracies,
                    const std::string& acc_label) {
  Series loss{"EMA validation loss", {}, {}}, acc{acc_label, {}, {}};
  bool ema = false;
  for (const EpochRecord& r : history) {
    ema |= std::isfinite(r.ema_val_acc);
    loss.x.push_back(r.epoch), acc.x.push_back(r.epoch);
    loss.y.push_back(r.ema_val_loss), acc.y.push_back(r.ema_val_acc);
  }
  if (ema) losses.push_back(std::move(loss)), accuracies.push_back(std::move(acc));
}

}  // namespace hsanet::train
