// The companion tools of cpu_train, run as subcommands of the hsanet multi-tool:
//   hsanet evaluate CHECKPOINT   a checkpoint's classification report on a data set
//   hsanet predict CHECKPOINT IMAGE_OR_FOLDER...   top-k identities with probabilities
//   hsanet verify CHECKPOINT A B  cosine similarity of two faces (or ROC/EER over a run's pairs)
//   hsanet compare RUN_DIR...    several runs' curves overlaid, and the paper's Tables 1 and 2
//   hsanet report RUN_DIR        rebuild the run's report.html (apps/train/run_report.h)
// Each takes an options struct (filled by the command line in apps/hsanet.cc) and streams.
#pragma once

#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include "models/model_config.h"

namespace hsanet::train {

struct EvaluateOptions {
  std::string checkpoint;
  std::string data;           // default: the data root the checkpoint's run used
  std::string split;          // split.csv to take a subset from (default: the run's, beside the checkpoint)
  std::string subset = "val"; // val | train | all
  std::string out;            // folder for report.txt/json, confusion.csv, predictions.csv (none: print only)
  int batch_size = 32;
  int workers = 1;
  // For plain weight files (no training metadata): the model to build.
  models::ModelConfig model;
  int img_size = 224;
  double center_crop = 1.0;
  std::string precision = "fp32";  // fp32 | bf16 (docs/precision.md)
};
int evaluate_command(const EvaluateOptions& opt, std::ostream& out, std::ostream& err);

struct PredictOptions {
  std::string checkpoint;            // written by cpu_train (names the classes and the input size)
  std::vector<std::string> images;   // image files and folders (walked recursively, sorted)
  int top_k = 5;
  bool json = false;                 // one JSON object per image instead of text
  std::string out;                   // a CSV (path, true, top1, p1, ...) instead of the console
  std::string embeddings;            // .npy or .safetensors: the pooled features, with an index CSV
  std::string precision = "fp32";    // fp32 | bf16 (docs/precision.md)
};
int predict_command(const PredictOptions& opt, std::ostream& out, std::ostream& err);

// Cosine similarity at which two faces are called the same identity when neither --threshold nor
// a run beside the checkpoint says otherwise. The features follow a ReLU, so cosines lie in
// [0, 1], and for a network trained only to classify, different people often reach 0.9: the EER
// threshold on the run's validation pairs is the default whenever the run is there.
inline constexpr double kDefaultVerifyThreshold = 0.5;
struct VerifyOptions {
  std::string checkpoint;            // written by cpu_train
  std::vector<std::string> images;   // two faces to compare (none with pairs_from_split)
  double threshold = std::numeric_limits<double>::quiet_NaN();  // NaN: calibrate (see above)
  std::string pairs_from_split;      // a run directory: ROC and EER over all its validation pairs
  std::string data;                  // the data folder (default: the one the run used)
  std::string out;                   // folder for verification.txt and verification.json
  bool json = false;
};
int verify_command(const VerifyOptions& opt, std::ostream& out, std::ostream& err);

struct CompareOptions {
  std::vector<std::string> runs;  // run directories
  std::string out = ".";          // where the compare_*.svg figures and comparison.md go
  bool model_tables = true;       // Table 2 builds each model once (seconds for ResNet-50 at 224)
  bool html = false;              // also comparison.html: the tables and figures on one page
};
int compare_command(const CompareOptions& opt, std::ostream& out, std::ostream& err);

struct ReportOptions {
  std::string run_dir;
  std::string data;  // image folder for the gallery (default: the one the run used)
};
// Writes RUN_DIR/report.html; prints its path and, on `err`, what it had to leave out.
int report_command(const ReportOptions& opt, std::ostream& out, std::ostream& err);

}  // namespace hsanet::train
