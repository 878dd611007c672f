// The pieces a run is built from: the data set and its split, the run directory's fixed files,
// the optimiser.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "apps/train/train_config.h"
#include "apps/train/write_points.h"
#include "data/image_folder.h"
#include "data/split.h"
#include "nn/module.h"
#include "nn/optimizer.h"

namespace hsanet::train {

// Names of the files in a run directory.
struct RunFiles {
  std::string dir;
  std::string file(const std::string& name) const { return dir + "/" + name; }
  std::string config() const { return file("config.json"); }
  std::string classes() const { return file("classes.txt"); }
  std::string split() const { return file("split.csv"); }
  std::string metrics() const { return file("metrics.csv"); }
  std::string last() const { return file("last.safetensors"); }
  std::string best() const { return file("best.safetensors"); }
};

// Opens (and validates) the data set. Throws data::DataError listing every unusable file.
data::ImageFolder open_dataset(const TrainConfig& cfg, std::ostream& warn);

// A new run (or one resumed before any epoch was completed): draws the split and writes
// config.json, classes.txt and split.csv, each crash-safely (whether the directory may be used is
// run_dir.h's question, asked before).
data::Split start_run_files(const RunFiles& run, const TrainConfig& cfg, const data::ImageFolder& dataset,
                            WritePoints& points);

// A resumed run: the class list must be the data set's, and the split is read back. config.json
// is rewritten with the resolved configuration (e.g. more epochs).
data::Split resume_run_files(const RunFiles& run, const TrainConfig& cfg, const data::ImageFolder& dataset,
                             WritePoints& points);

// SGD with momentum or AdamW over the model's parameters, at the base learning rate.
std::unique_ptr<nn::Optimizer> make_optimizer(const TrainConfig& cfg, const nn::Module& model);

}  // namespace hsanet::train
