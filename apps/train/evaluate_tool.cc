// hsanet evaluate: a checkpoint's classification report on a data set.
#include <fmt/printf.h>
#include <chrono>
#include <filesystem>
#include <ostream>

#include "apps/train/checkpoint.h"
#include "apps/train/evaluation.h"
#include "apps/train/report.h"
#include "apps/train/tools.h"
#include "data/split.h"
#include "models/resnet.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

// The sample indices of `subset` ("val", "train" or "all").
std::vector<int> pick_subset(const EvaluateOptions& opt, const data::ImageFolder& dataset, std::string& described,
                             std::ostream& out) {
  std::vector<int> all(dataset.size());
  for (int i = 0; i < dataset.size(); ++i) all[i] = i;
  if (opt.subset == "all") {
    described = "all " + std::to_string(all.size()) + " images";
    return all;
  }
  std::string split_file = opt.split;
  if (split_file.empty()) {
    const fs::path beside = fs::path(opt.checkpoint).parent_path() / "split.csv";
    if (fs::exists(beside)) split_file = beside.string();
  }
  if (split_file.empty())
    throw std::runtime_error("--subset " + opt.subset + " needs a split: no split.csv beside the checkpoint; give --split FILE or --subset all");
  data::Split split = data::read_split_csv(split_file, dataset);
  std::vector<int> picked = opt.subset == "train" ? split.train : split.val;
  described = std::to_string(picked.size()) + " " + opt.subset + " images of " + split_file;
  return picked;
}

}  // namespace

int evaluate_command(const EvaluateOptions& opt, std::ostream& out, std::ostream& err) {
  if (opt.subset != "val" && opt.subset != "train" && opt.subset != "all")
    throw std::invalid_argument("--subset must be val, train or all, not '" + opt.subset + "'");
  io::SafeTensorsFile file = io::read_safetensors(opt.checkpoint);
  const bool ours = is_training_checkpoint(file);
  RunIdentity run;
  if (ours) run = read_run_identity(file, opt.checkpoint);

  std::string root = opt.data;
  if (root.empty() && ours) root = run.config.data;
  if (root.empty()) root = default_data_root();
  if (root.empty() || !fs::is_directory(root)) throw std::runtime_error("--data: '" + root + "' is not a folder");
  data::ImageFolder dataset = data::ImageFolder::open(root, {}, err);

  models::ModelConfig mc;
  data::TransformConfig tc;
  if (ours) {
    if (run.classes != dataset.classes())
      throw std::runtime_error(root + " has " + std::to_string(dataset.num_classes()) +
                               " classes that are not the checkpoint's " + std::to_string(run.classes.size()) +
                               " (names and order must match)");
    mc = run.model;
    tc = run.config.eval_transform();
  } else {
    mc = opt.model;
    mc.num_classes = dataset.num_classes();
    mc.height = mc.width = opt.img_size;
    tc = data::eval_transform_config(opt.img_size, opt.center_crop);
  }
  mc.precision = ops::parse_precision(opt.precision);
  auto model = models::build_model(mc);
  io::LoadReport lr = load_model_weights(file, opt.checkpoint, *model, /*strict=*/ours);
  if (!lr.complete()) out << describe_weight_load(lr, opt.checkpoint);

  std::string described;
  std::vector<int> indices = pick_subset(opt, dataset, described, out);
  data::DataLoader loader(dataset, indices, data::Transform(tc),
                          {.batch_size = opt.batch_size, .shuffle = false, .workers = opt.workers});
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r = evaluate(*model, loader);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string head;
  head = fmt::sprintf("%s (%s, %dx%d) on %s: loss %.4f, accuracy %.4f (%.1f s)\n",
                opt.checkpoint.c_str(), mc.name.c_str(), mc.height, mc.width, described.c_str(), r.loss,
                r.accuracy, secs);
  if (!opt.out.empty()) {
    fs::create_directories(opt.out);
    out << write_evaluation_files(opt.out, "", head, dataset, r,
                                  {{"checkpoint", opt.checkpoint}, {"data", root}, {"subset", opt.subset},
                                   {"model", mc.name}, {"seconds", secs}});
    out << "wrote " << opt.out << "/report.txt, report.json, confusion.csv, predictions.csv\n";
  } else {
    out << head << classification_report(r.truth, r.predicted, dataset.classes()).to_text();
  }
  return 0;
}

}  // namespace hsanet::train
