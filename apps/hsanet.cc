// hsanet: the multi-tool.
//   hsanet summary MODEL [--classes N] [--size H W] [--json]
//   hsanet run --model M --weights W.safetensors --input X.safetensors --out O.safetensors [--train|--eval]
//   hsanet evaluate CHECKPOINT [--data DIR] [--subset val|train|all] [--out DIR]
//   hsanet predict CHECKPOINT IMAGE_OR_FOLDER... [--top-k K] [--json] [--out P.csv] [--embeddings E.npy]
//   hsanet verify CHECKPOINT A B [--threshold T] | CHECKPOINT --pairs-from-split RUN_DIR [--out DIR]
//   hsanet compare RUN_DIR... [--out DIR] [--html]
//   hsanet report RUN_DIR [--data DIR]
//   hsanet explain CHECKPOINT IMAGE_OR_FOLDER... --out DIR [--layer NAME] [--head H|all] [--query Y,X|mean]
//                  [--class C|pred|true]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "apps/train/checkpoint.h"
#include "apps/train/explain_tool.h"
#include "apps/train/tools.h"
#include "autograd/functions_basic.h"
#include "autograd/functions_loss.h"
#include "base/random.h"
#include "cli/model_options.h"
#include "nn/train_step.h"
#include "cli/openmp_policy.h"
#include "io/checkpoint_io.h"
#include "models/resnet.h"
#include "nn/summary.h"
#include "ops/parallel.h"

using namespace hsanet;
namespace tools = hsanet::train;

namespace {

int run_summary(models::ModelConfig cfg, bool json) {
  auto model = models::build_model(cfg);
  nn::ModelSummary s = nn::summarize(*model, cfg.height, cfg.width);
  if (json)
    std::cout << nn::summary_json(s, cfg.name) << "\n";
  else
    std::cout << nn::summary_text(s, cfg.name + " (" + std::to_string(cfg.num_classes) + " classes, " +
                                         std::to_string(cfg.height) + "x" + std::to_string(cfg.width) + ")");
  return 0;
}

// Cross-framework run: PyTorch-layout input in, logits/loss/gradients out.
int run_model(models::ModelConfig cfg, const std::string& weights, const std::string& input_path,
              const std::string& out_path, bool train) {
  io::SafeTensorsFile in = io::read_safetensors(input_path);
  if (!in.contains("input") || !in.contains("labels"))
    throw std::runtime_error(input_path + ": needs tensors 'input' [N, 3, H, W] and 'labels' [N]");
  Tensor x_nchw = in.at("input").to_float_tensor();  // [N, 3, H, W]
  if (x_nchw.ndim() != 4 || x_nchw.size(1) != 3)
    throw std::runtime_error(input_path + ": 'input' must be [N, 3, H, W], got " + shape_str(x_nchw.shape()));
  std::vector<int64_t> labels64 = in.at("labels").to_int64();
  if (static_cast<int64_t>(labels64.size()) != x_nchw.size(0))
    throw std::runtime_error(input_path + ": 'labels' must hold one label per image");
  std::vector<int32_t> labels;
  for (size_t i = 0; i < labels64.size(); ++i) {
    if (labels64[i] < 0 || labels64[i] >= cfg.num_classes)
      throw std::runtime_error(input_path + ": labels[" + std::to_string(i) + "] = " + std::to_string(labels64[i]) +
                               " is not a class of this model (0 to " + std::to_string(cfg.num_classes - 1) + ")");
    labels.push_back(static_cast<int32_t>(labels64[i]));
  }
  cfg.height = static_cast<int>(x_nchw.size(2));
  cfg.width = static_cast<int>(x_nchw.size(3));

  auto model = models::build_model(cfg);
  // Strict, but a cpu_train checkpoint's optimizer.* entries are not the model's and are skipped.
  tools::load_model_weights(io::read_safetensors(weights), weights, *model, /*strict=*/true);
  model->train(train);

  x_nchw.set_requires_grad(true);
  // NCHW -> NHWC: swap C and W (N W H C), then W and H (N H W C). The gradient flows back in NCHW.
  Tensor x = transpose(transpose(x_nchw, 1, 3), 1, 2);
  // The training step without the update (nn/train_step.h): what the other framework compares.
  const nn::TrainStepStats st = nn::train_step(*model, x, labels, Tensor(), {});
  const Tensor& logits = st.logits;
  const Tensor& loss = st.loss;

  std::vector<std::pair<std::string, io::TensorRecord>> out;
  out.emplace_back("logits", io::TensorRecord::from_tensor(logits.detach()));
  out.emplace_back("loss", io::TensorRecord::from_tensor(loss.detach()));
  out.emplace_back("input.grad", io::TensorRecord::from_tensor(x_nchw.grad()));
  for (auto& [name, p] : model->named_parameters()) {
    if (!p.grad().defined()) throw std::runtime_error("no gradient reached " + name);
    out.emplace_back(name + ".grad", io::TensorRecord::from_tensor(p.grad()));
  }
  for (auto& [name, b] : model->named_buffers()) out.emplace_back(name, io::TensorRecord::from_tensor(b));
  io::write_safetensors(out_path, out, {{"model", cfg.name}, {"mode", train ? "train" : "eval"}});
  std::printf("loss %.6f; wrote %zu tensors to %s\n", loss.item(), out.size(), out_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli::use_short_openmp_spin(argv);  // a shared machine: see cli/openmp_policy.h
  CLI::App app{"hsanet: model summaries, cross-framework runs, and tools for cpu_train's checkpoints and runs"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "compute threads (default: all cores)");

  models::ModelConfig cfg;
  std::vector<int> size{224, 224};
  bool json = false;
  auto* summary = app.add_subcommand("summary", "layers, parameters, memory and FLOPs of a model (the paper's Table 2)");
  summary->add_option("model", cfg.name, "resnet50 | botnet50 | hsanet_x | hsanet_3x3")
      ->required()
      ->check(CLI::IsMember(models::model_names()));
  cli::add_model_options(*summary, cfg, false);
  summary->add_option("--size", size, "input height and width")->expected(2)->capture_default_str();
  summary->add_flag("--json", json, "print JSON (keys params, params_mb, fwd_bwd_mb, gflops, layers)");

  std::string weights, input, out;
  bool train = false, eval = false;
  auto* run = app.add_subcommand("run", "one forward/backward pass on given weights and inputs, for comparison with another framework");
  cli::add_model_options(*run, cfg);
  run->add_option("--weights", weights, "model weights (safetensors, PyTorch names and shapes)")->required()->check(CLI::ExistingFile);
  run->add_option("--input", input, "safetensors with 'input' [N,3,H,W] float32 and 'labels' [N] int64")->required()->check(CLI::ExistingFile);
  run->add_option("--out", out, "output safetensors: logits, loss, input.grad, <param>.grad, buffers")->required();
  std::string device = "cpu";
  cli::add_attention_device_option(*run, device);
  std::string conv_algorithm = "fast";
  cli::add_conv_algorithm_option(*run, conv_algorithm);
  std::string precision = "fp32";
  cli::add_precision_option(*run, precision);
  auto* ftrain = run->add_flag("--train", train, "batch statistics (updates BN running buffers)");
  run->add_flag("--eval", eval, "running statistics (default)")->excludes(ftrain);

  tools::EvaluateOptions ev;
  auto* evaluate = app.add_subcommand("evaluate", "classification report and confusion matrix of a checkpoint on a data set");
  evaluate->add_option("checkpoint", ev.checkpoint, "a cpu_train checkpoint (RUN/best.safetensors), or plain weights with --model")
      ->required()->check(CLI::ExistingFile);
  evaluate->add_option("--data", ev.data, "image folder (default: the one the checkpoint's run used)");
  evaluate->add_option("--subset", ev.subset, "val | train (of --split, default the run's split.csv beside the checkpoint) | all")
      ->capture_default_str();
  evaluate->add_option("--split", ev.split, "split.csv to take --subset from");
  evaluate->add_option("--out", ev.out, "write report.txt, report.json, confusion.csv and predictions.csv here");
  evaluate->add_option("--batch-size", ev.batch_size, "images per step")->check(CLI::PositiveNumber)->capture_default_str();
  evaluate->add_option("--workers", ev.workers, "data-loading threads")->check(CLI::NonNegativeNumber)->capture_default_str();
  cli::add_model_options(*evaluate, ev.model);
  evaluate->remove_option(evaluate->get_option("--classes"));
  evaluate->add_option("--img-size", ev.img_size, "plain weights: input size")->capture_default_str();
  evaluate->add_option("--center-crop", ev.center_crop, "plain weights: central fraction kept first")->capture_default_str();
  cli::add_precision_option(*evaluate, ev.precision);

  tools::PredictOptions pr;
  auto* predict = app.add_subcommand("predict", "top-k identities with probabilities for image files and folders");
  predict->add_option("checkpoint", pr.checkpoint, "a cpu_train checkpoint (RUN/best.safetensors)")->required()->check(CLI::ExistingFile);
  predict->add_option("images", pr.images,
                      "image files, and folders walked recursively for image files (sorted); an image whose "
                      "parent folder names one of the checkpoint's identities gets that as its true label")
      ->required();
  predict->add_option("--top-k,-k", pr.top_k, "identities per image")->check(CLI::PositiveNumber)->capture_default_str();
  auto* pr_json = predict->add_flag("--json", pr.json, "one JSON object per image");
  predict->add_option("--out", pr.out, "write a CSV instead (path, true, top1, p1, ..., topK, pK)")->excludes(pr_json);
  predict->add_option("--embeddings", pr.embeddings,
                      "write the pooled features (the input of the final fc: 2048 floats per image, fewer "
                      "below --width-mult 1) as float32 [N, D] to a .npy or .safetensors file, with "
                      "NAME.index.csv (row, path, label) beside it");
  cli::add_precision_option(*predict, pr.precision);

  tools::VerifyOptions vf;
  auto* verify = app.add_subcommand("verify", "are two faces the same identity? (cosine similarity of pooled "
                                              "features); or ROC/EER over a run's validation pairs");
  verify->add_option("checkpoint", vf.checkpoint, "a cpu_train checkpoint (RUN/best.safetensors)")->required()->check(CLI::ExistingFile);
  verify->add_option("images", vf.images, "two face images A B")->expected(0, 2);
  verify->add_option("--threshold", vf.threshold,
                     "cosine similarity at or above which A and B are the same identity (default: the EER "
                     "threshold over the validation pairs of the run beside the checkpoint, its split.csv; "
                     "0.5 when there is none)");
  verify->add_option("--pairs-from-split", vf.pairs_from_split,
                     "a run directory: every pair of its split.csv's validation images, scored; prints the "
                     "same/different pair counts, AUC, EER and its threshold, TAR at FAR 1e-2 and 1e-3")
      ->check(CLI::ExistingDirectory);
  verify->add_option("--data", vf.data, "with --pairs-from-split: the image folder (default: the one the run used)");
  verify->add_option("--out", vf.out, "with --pairs-from-split: write verification.txt and verification.json here");
  verify->add_flag("--json", vf.json, "print JSON");

  tools::CompareOptions cmp;
  auto* compare = app.add_subcommand("compare", "overlay runs' curves (one SVG per figure) and print the paper's Tables 1 and 2");
  compare->add_option("runs", cmp.runs, "run directories")->required()->check(CLI::ExistingDirectory);
  compare->add_option("--out", cmp.out, "folder for compare_*.svg and comparison.md")->capture_default_str();
  compare->add_flag("!--no-model-table", cmp.model_tables, "skip Table 2 (it builds each run's model once)");
  compare->add_flag("--html", cmp.html,
                    "also write comparison.html: Tables 1-2 and Figures 5-8 on one self-contained page");

  tools::ReportOptions rep;
  auto* report = app.add_subcommand("report", "rebuild RUN_DIR/report.html: config, curves, top-1/top-5, "
                                              "classification report, confusion matrix, image gallery, explain images");
  report->add_option("run_dir", rep.run_dir, "a cpu_train run directory")->required()->check(CLI::ExistingDirectory);
  report->add_option("--data", rep.data, "image folder for the gallery (default: the one the run used)");

  tools::ExplainOptions ex;
  auto* explain = app.add_subcommand("explain", "attention maps and Grad-CAM drawn over faces (PNG), with the raw "
                                                "maps (CSV); docs/explain.md tells how to read them");
  explain->add_option("checkpoint", ex.checkpoint, "a cpu_train checkpoint (RUN/best.safetensors)")->required()->check(CLI::ExistingFile);
  explain->add_option("images", ex.images,
                      "image files, and folders walked recursively for image files (sorted); an image whose "
                      "parent folder names one of the checkpoint's identities gets that as its true class")
      ->required();
  explain->add_option("--out", ex.out, "folder for NAME_attention_*.png/.csv, NAME_gradcam_*.png/.csv and maps.csv (created)")
      ->required();
  explain->add_option("--layer", ex.layer,
                      "Grad-CAM's layer, a module path with a feature-map output (layer4: the last stage before "
                      "the pool; or e.g. layer3, layer4.2, layer4.0.mhsa); the attention maps come from the MHSA "
                      "it names or holds (the last one inside it), else from the model's last MHSA")
      ->capture_default_str();
  explain->add_option("--head", ex.head, "attention head to draw: all, or an index from 0")->capture_default_str();
  explain->add_option("--query", ex.queries,
                      "attention query cell Y,X (row, column of the attention's map, from 0) or mean (the mean "
                      "over all queries); repeatable (default: the centre cell and mean)")
      ->allow_extra_args(false);
  explain->add_option("--class", ex.classes,
                      "Grad-CAM's class: pred (the predicted identity), true (the folder's identity, when the "
                      "checkpoint knows it), an identity name or a class index; repeatable (default: pred and true)")
      ->allow_extra_args(false);

  CLI11_PARSE(app, argc, argv);
  if (threads > 0) ops::set_num_threads(threads);
  ops::flush_denormals(true);
  try {
    if (summary->parsed()) {
      cfg.height = size[0];
      cfg.width = size[1];
      cfg.validate();
      return run_summary(cfg, json);
    }
    if (evaluate->parsed()) return tools::evaluate_command(ev, std::cout, std::cerr);
    if (predict->parsed()) return tools::predict_command(pr, std::cout, std::cerr);
    if (verify->parsed()) return tools::verify_command(vf, std::cout, std::cerr);
    if (compare->parsed()) return tools::compare_command(cmp, std::cout, std::cerr);
    if (report->parsed()) return tools::report_command(rep, std::cout, std::cerr);
    if (explain->parsed()) return tools::explain_command(ex, std::cout, std::cerr);
    cfg.attention_device = cli::usable_attention_device(device);
    cfg.precision = ops::parse_precision(precision);
    cfg.conv_algorithm = ops::parse_conv2d_algorithm(conv_algorithm);
    return run_model(cfg, weights, input, out, train);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hsanet: error: %s\n", e.what());
    return 1;
  }
}
