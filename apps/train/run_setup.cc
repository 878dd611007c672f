#include "apps/train/run_setup.h"

#include <filesystem>
#include <stdexcept>

#include "io/atomic_file.h"

namespace hsanet::train {

namespace fs = std::filesystem;

data::ImageFolder open_dataset(const TrainConfig& cfg, std::ostream& warn) {
  data::ImageFolderOptions fo;
  fo.skip_bad = cfg.skip_bad;
  fo.skip_hint = "--skip-bad";
  fo.validate_threads = std::max(1, cfg.workers);
  return data::ImageFolder::open(cfg.data, fo, warn);
}

namespace {

void write_config(const RunFiles& run, const TrainConfig& cfg, WritePoints& points) {
  TrainConfig c = cfg;
  // The data root as an absolute path, so that --resume works from any directory.
  c.data = fs::absolute(cfg.data).lexically_normal().string();
  io::write_file_atomically(run.config(), to_json(c).dump(2) + "\n");
  points.wrote(run.config());
}

}  // namespace

data::Split start_run_files(const RunFiles& run, const TrainConfig& cfg, const data::ImageFolder& dataset,
                            WritePoints& points) {
  fs::create_directories(run.dir);
  data::Split split = data::stratified_split(dataset, cfg.val_fraction, cfg.seed);
  write_config(run, cfg, points);
  io::write_file_atomically(run.classes(), data::format_class_list(dataset.classes(), run.classes()));
  points.wrote(run.classes());
  io::write_file_atomically(run.split(), data::format_split_csv(dataset, split));
  points.wrote(run.split());
  return split;
}

data::Split resume_run_files(const RunFiles& run, const TrainConfig& cfg, const data::ImageFolder& dataset,
                             WritePoints& points) {
  const std::vector<std::string> classes = data::read_class_list(run.classes());
  if (classes != dataset.classes())
    throw std::runtime_error(run.classes() + " lists " + std::to_string(classes.size()) +
                             " classes that differ from the data set's " + std::to_string(dataset.num_classes()) +
                             " under '" + cfg.data + "'; resume with the data the run was started on (--data)");
  data::Split split = data::read_split_csv(run.split(), dataset);
  write_config(run, cfg, points);
  return split;
}

std::unique_ptr<nn::Optimizer> make_optimizer(const TrainConfig& cfg, const nn::Module& model) {
  if (cfg.opt == "adamw")
    return std::make_unique<nn::AdamW>(model.named_parameters(),
                                       nn::AdamWOptions{.lr = static_cast<float>(cfg.lr),
                                                        .weight_decay = static_cast<float>(cfg.weight_decay)});
  return std::make_unique<nn::SGD>(model.named_parameters(),
                                   nn::SgdOptions{.lr = static_cast<float>(cfg.lr),
                                                  .momentum = static_cast<float>(cfg.momentum),
                                                  .weight_decay = static_cast<float>(cfg.weight_decay)});
}

}  // namespace hsanet::train
