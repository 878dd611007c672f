// The end of a run: the paper's figures (average and best validation accuracy over the epochs,
// and the classification report of the final epoch's validation predictions) as text and JSON,
// the confusion matrix, the predictions, and the loss and accuracy curves as SVG.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "apps/train/evaluation.h"
#include "apps/train/history.h"
#include "apps/train/metrics.h"
#include "apps/train/run_log.h"

namespace hsanet::train {

// Files written by write_evaluation_files, with `prefix` before each name ("" or "eval_").
//   <prefix>report.txt, <prefix>report.json, <prefix>confusion.csv, <prefix>predictions.csv
// report.json holds the classification report's keys (accuracy, macro_avg, weighted_avg,
// per_class, classes, confusion) merged with `extra`. Returns the report's text.
std::string write_evaluation_files(const std::string& dir, const std::string& prefix,
                                   const std::string& heading, const data::ImageFolder& dataset,
                                   const EvalResult& result, const nlohmann::json& extra);

// "validation accuracy over 30 epochs: average 0.8123, best 0.9103 (epoch 27), final 0.8974"
std::string val_summary_line(const History& history);

// report.html (apps/train/run_report.h) at the end of a run. A page that cannot be built does not
// fail the run, whose results are already written: the reason goes to the log, and
// `hsanet report RUN_DIR` rebuilds it later. `data` is the run's image folder.
void write_report_page(const std::string& run_dir, const std::string& data, RunLog& log);

// loss.svg (train and validation loss per epoch) and accuracy.svg (the same for accuracy).
void write_curves(const std::string& dir, const History& history);

}  // namespace hsanet::train
