// report.html: one run on one self-contained page, built from the files the run directory
// already holds (config.json, metrics.csv, report.json, confusion.csv, predictions.csv, explain/)
// and the validation images under the run's data folder. Everything is embedded (SVG inline,
// pictures as PNG data URIs), so the page opens from file:// with no network and keeps working
// when the run directory is moved or copied elsewhere.
//
// Sections, by element id: config, curves, accuracy, classification, confusion, confused-pairs,
// gallery, explain. A section whose file is missing says which file and how to make it.
#pragma once

#include <string>
#include <vector>

#include "apps/train/history.h"
#include "apps/train/svg_plot.h"

namespace hsanet::train {

struct RunReportOptions {
  std::string data;        // image folder for the gallery (default: config.json's "data", else the bundled faces)
  int gallery_limit = 60;  // images shown (wrong predictions first)
  int thumbnail_side = 96; // pixels
};

// The page. `notes` (may be null) receives one line per thing left out (a missing file, an image
// that does not decode). Throws std::runtime_error naming the file when one is malformed, or
// when `run_dir` is not a run directory (no metrics.csv and no report.json).
std::string run_report_html(const std::string& run_dir, const RunReportOptions& opt, std::vector<std::string>* notes);

// Writes RUN_DIR/report.html (crash-safely) and returns its path.
std::string write_run_report(const std::string& run_dir, const RunReportOptions& opt, std::vector<std::string>* notes);

// With --ema (a finite ema_val_acc in some epoch): appends the average's validation loss and
// accuracy curves (epochs without one are gaps) to the two plots, the latter named acc_label.
void add_ema_curves(const History& history, std::vector<Series>& losses, std::vector<Series>& accuracies,
                    const std::string& acc_label);

}  // namespace hsanet::train
