#include "apps/train/command_line.h"

#include <CLI/CLI.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "apps/train/json_file.h"
#include "apps/train/resume_config.h"
#include "cli/model_options.h"

namespace hsanet::train {

namespace fs = std::filesystem;

const std::set<std::string>& resume_safe_keys() {
  // What the run computes does not depend on these (epochs: the user asks for more or fewer; the
  // cosine schedule follows, which is the point of asking). data may move, since the split file
  // pins the images by their paths under the root. attention-device, conv-algorithm and
  // precision change the rounding, not the computation.
  static const std::set<std::string> keys{"epochs", "threads", "workers", "log-interval",
                                          "eval-batch-size", "data", "attention-device",
                                          "conv-algorithm", "precision"};
  return keys;
}

namespace {

const char* kFooter = R"(
Examples:
  cpu_train --width-mult 0.25 --img-size 64 --epochs 50 --batch-size 8 --lr 0.02   (the quick demo)
  cpu_train --data DIR --model hsanet_3x3 --img-size 112 --epochs 30 --out runs/h3
  cpu_train --resume runs/h3                 continue after the last completed epoch
  cpu_train --resume runs/h3 --evaluate      report of runs/h3/best.safetensors on its split
  cpu_train --init-from resnet50.safetensors --data DIR --out runs/ft   (fc.* skipped if shaped differently)
A run directory holds config.json, classes.txt, split.csv, metrics.csv, log.jsonl, train.log,
last.safetensors, best.safetensors, report.txt, report.json, confusion.csv, confusion.svg,
predictions.csv, loss.svg, accuracy.svg and report.html (one page; hsanet report RUN rebuilds it).
See docs/training.md.)";

// Registers every flag, bound to `cfg` and `inv`.
void build_app(CLI::App& app, TrainConfig& cfg, TrainInvocation& inv) {
  app.description("cpu_train: train a face-identity network (ResNet-50, BoTNet-50, HSANet) on an image folder");
  app.footer(kFooter);
  app.get_formatter()->column_width(34);

  // Data
  app.add_option("--data", cfg.data, "image folder: one sub-folder per identity (default: the bundled ORL faces)")
      ->group("Data");
  app.add_option("--val-fraction", cfg.val_fraction, "share of each identity's images held out for validation")
      ->capture_default_str()->group("Data");
  app.add_flag("--skip-bad", cfg.skip_bad, "drop unreadable images with a warning instead of refusing the data set")
      ->group("Data");
  app.add_option("--workers", cfg.workers,
                 "data-loading threads, 0 to " + std::to_string(kMaxWorkers) + " (0: load on the training thread)")
      ->capture_default_str()->group("Data");

  // Model: the shared model flags, less --classes (the data set decides it).
  cli::add_model_options(app, cfg.model);
  app.remove_option(app.get_option("--classes"));
  for (const char* name : {"--model", "--attention", "--window", "--attention-stages", "--heads", "--width-mult", "--blocks"})
    app.get_option(name)->group("Model");
  app.add_option("--img-size", cfg.img_size, "input height and width (square), 32 to " + std::to_string(kMaxImgSize))
      ->capture_default_str()->group("Model");

  // Optimisation
  app.add_option("--epochs", cfg.epochs, "training epochs")->capture_default_str()->group("Optimisation");
  app.add_option("--batch-size,-b", cfg.batch_size, "images per training step, 1 to " + std::to_string(kMaxBatchSize))
      ->capture_default_str()->group("Optimisation");
  app.add_option("--eval-batch-size", cfg.eval_batch_size, "images per validation step, 1 to " + std::to_string(kMaxBatchSize))
      ->capture_default_str()->group("Optimisation");
  app.add_option("--opt", cfg.opt, "optimiser: sgd (with momentum) | adamw")->capture_default_str()->group("Optimisation");
  app.add_option("--lr", cfg.lr, "base learning rate")->capture_default_str()->group("Optimisation");
  app.add_option("--momentum", cfg.momentum, "SGD momentum")->capture_default_str()->group("Optimisation");
  app.add_option("--weight-decay", cfg.weight_decay, "weight decay (SGD: L2 on the gradient; AdamW: decoupled)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--sched", cfg.sched, "lr schedule, per epoch: cosine (to alpha x lr) | step | constant | plateau (cut when --monitor stalls)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--alpha", cfg.alpha, "cosine: the last epoch runs at alpha x lr")->capture_default_str()->group("Optimisation");
  app.add_option("--step-size", cfg.step_size, "step: multiply lr by gamma every this many epochs")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--gamma", cfg.gamma, "step: the factor")->capture_default_str()->group("Optimisation");
  app.add_option("--warmup-steps", cfg.warmup_steps, "linear lr warm-up over the first steps (0: none)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--plateau-factor", cfg.plateau_factor,
                 "plateau: multiply lr by this when --monitor stalls (torch ReduceLROnPlateau factor)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--plateau-patience", cfg.plateau_patience,
                 "plateau: epochs without improvement tolerated; the lr is cut after one more")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--plateau-min-lr", cfg.plateau_min_lr, "plateau: the lr is never cut below this")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--label-smoothing", cfg.label_smoothing, "cross-entropy label smoothing in [0, 1)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--clip-grad", cfg.clip_grad,
                 "clip gradients before each step at this bound (0: off); the norm is logged")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--clip-mode", cfg.clip_mode,
                 "norm: one global L2 norm, as torch.nn.utils.clip_grad_norm_ | value: each element")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--patience", cfg.patience,
                 "early stopping: stop after this many epochs without improvement of --monitor (0: off)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--min-delta", cfg.min_delta, "early stopping: the smallest change that counts as improvement")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--freeze-epochs", cfg.freeze_epochs,
                 "with --init-from: the first N epochs train only what was not loaded (head, attention, fresh "
                 "tensors); batch norm keeps updating its running statistics")
      ->capture_default_str()->group("Optimisation");
  app.add_flag("--freeze-bn", cfg.freeze_bn,
               "with --init-from: the batch norms whose statistics were loaded normalise with them while "
               "training too, and keep them (eval-mode batch norm; their weight and bias still train)")
      ->group("Optimisation");
  app.add_option("--lr-pretrained-mult", cfg.lr_pretrained_mult,
                 "with --init-from: the loaded parameters train at lr x this (warm-up and schedule apply to both)")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--monitor", cfg.monitor, "early stopping and plateau: val_loss (lower is better) | val_acc")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--accum-steps", cfg.accum_steps,
                 "sum the gradients of this many batches (each loss / K) before each optimiser step")
      ->capture_default_str()->group("Optimisation");
  app.add_option("--ema", cfg.ema,
                 "keep a moving average of the weights and buffers with this decay, e.g. 0.999 (0: off)")
      ->capture_default_str()->group("Optimisation");
  app.add_flag("--ema-warmup,!--no-ema-warmup", cfg.ema_warmup,
               "EMA decay warm-up: min(decay, (1 + step) / (10 + step)) (default on)")
      ->group("Optimisation");
  app.add_option("--select-by", cfg.select_by,
                 "raw | ema: whose validation score picks best.safetensors and drives --patience and plateau")
      ->capture_default_str()->group("Optimisation");

  // Augmentation
  app.add_option("--center-crop", cfg.center_crop, "keep the central fraction of each side first, train and eval (1: off)")
      ->capture_default_str()->group("Augmentation");
  app.add_flag("--augment,!--no-augment", cfg.augment, "random resized crop, flip, erasing, colour jitter and mixing on training images (--no-augment: off)")
      ->group("Augmentation");
  app.add_option("--scale-min", cfg.scale_min, "random resized crop: smallest area fraction")
      ->capture_default_str()->group("Augmentation");
  app.add_option("--scale-max", cfg.scale_max, "random resized crop: largest area fraction")
      ->capture_default_str()->group("Augmentation");
  app.add_option("--hflip", cfg.hflip, "horizontal flip probability")->capture_default_str()->group("Augmentation");
  app.add_option("--erase", cfg.erase, "random erasing (occlusion) probability")->capture_default_str()->group("Augmentation");
  app.add_option("--color-jitter", cfg.color_jitter,
                 "S or B,C,S: brightness, contrast and saturation factors drawn from [max(0, 1-s), 1+s], applied "
                 "in a random order (torchvision's ColorJitter; default off)")
      ->delimiter(',')->expected(1, 3)->group("Augmentation");
  app.add_option("--mixup", cfg.mixup,
                 "mixup alpha: each batch blended with itself flipped, lambda ~ Beta(A, A), soft targets "
                 "(timm's --mixup; 0: off)")
      ->capture_default_str()->group("Augmentation");
  app.add_option("--cutmix", cfg.cutmix,
                 "cutmix alpha: a box of area 1-lambda pasted from the flipped batch, lambda ~ Beta(A, A) "
                 "(timm's --cutmix; 0: off)")
      ->capture_default_str()->group("Augmentation");
  app.add_option("--mix-prob", cfg.mix_prob, "mixup/cutmix: probability that a batch is mixed (timm's mixup_prob)")
      ->capture_default_str()->group("Augmentation");
  app.add_option("--mix-switch-prob", cfg.mix_switch_prob,
                 "mixup and cutmix both on: probability of cutmix for a batch (timm's mixup_switch_prob)")
      ->capture_default_str()->group("Augmentation");

  // Run
  app.add_option("--seed", cfg.seed, "seed of the weights, the split, the order and the augmentation")
      ->capture_default_str()->group("Run");
  app.add_option("--threads,-j", cfg.threads, "compute threads (0: all cores)")->capture_default_str()->group("Run");
  cli::add_attention_device_option(app, cfg.attention_device);
  cli::add_conv_algorithm_option(app, cfg.conv_algorithm);
  cli::add_precision_option(app, cfg.precision);
  app.add_option("--out,-o", inv.out,
                 "run directory: new or empty (default: runs/<model>-<date>-<time>, with -2, -3... if taken)")
      ->group("Run");
  app.add_flag("--overwrite", inv.overwrite,
               "let a new run write into a non-empty --out that holds no checkpoint (default: refuse)")
      ->group("Run");
  app.add_option("--resume", inv.resume, "continue the run in this directory after its last completed epoch")->group("Run");
  app.add_option("--allow-change", inv.allow_change,
                 "with --resume: let this option (e.g. lr, batch-size) differ from the checkpoint's; the change is logged")
      ->group("Run");
  app.add_option("--init-from", inv.init_from, "start from these weights (safetensors); tensors that do not fit are skipped and listed")
      ->group("Run");
  app.add_option("--config", inv.config_file, "JSON file of options (keys as the flags, e.g. \"batch-size\"); flags override it")
      ->group("Run");
  app.add_flag("--evaluate", inv.evaluate_only, "evaluation only: report on the validation split (weights from --resume's best or --init-from)")
      ->group("Run");
  app.add_option("--limit-batches", cfg.limit_batches, "quick mode: at most this many training batches per epoch (0: all)")
      ->capture_default_str()->group("Run");
  app.add_option("--log-interval", cfg.log_interval, "batches between progress lines when the output is not a terminal")
      ->capture_default_str()->group("Run");
#ifdef HSANET_HAVE_MPI
  // Distributed (mpirun -np P cpu_train ...): each process takes batch-size / P of every step.
  app.add_flag("--sync-bn", inv.sync_bn, "under mpirun: batch-norm statistics over the global batch (default: per process)")
      ->group("Distributed");
  app.add_option("--bucket-mb", inv.bucket_mb, "under mpirun: gradient all-reduce bucket size in MB")
      ->capture_default_str()->check(CLI::PositiveNumber)->group("Distributed");
  app.add_flag("!--no-overlap", inv.overlap, "under mpirun: sum gradients after the whole backward pass, not during it")
      ->group("Distributed");
#endif
  // Hidden test hooks.
  app.add_option("--stop-after-epoch", inv.stop_after_epoch, "")->group("");
  app.add_option("--fault-nan-step", inv.fault_nan_step, "")->group("");
  app.add_option("--fault-stop-after-write", inv.stop_after_write, "")->group("");

  // A flag given twice takes its last value (scripts append overrides to a base command line).
  for (CLI::Option* o : app.get_options())
    if (o->get_items_expected_max() == 1) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

std::string default_out(const TrainConfig& cfg) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return "runs/" + cfg.model.name + "-" + stamp;
}

// Keys of the config options given on the command line.
std::vector<std::string> given_keys(const CLI::App& app) {
  std::set<std::string> known;
  TrainConfig probe;
  for_each_field(probe, [&](const char* key, auto&) { known.insert(key); });
  std::vector<std::string> keys;
  for (const CLI::Option* o : app.get_options()) {
    if (o->count() == 0 || o->get_lnames().empty()) continue;
    const std::string& key = o->get_lnames().front();
    if (known.count(key)) keys.push_back(key);
  }
  return keys;
}

}  // namespace

ParseResult parse_train_command_line(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err) {
  ParseResult result;
  auto fail = [&](const std::string& message) {
    err << "cpu_train: error: " << message << "\n";
    result.proceed = false;
    result.code = 2;
    return result;
  };
  // CLI11 wants char**; it does not write through it.
  char** args = const_cast<char**>(argv);

  // Parses the flags into cfg and inv; false when parsing ended the run (--help, or an error:
  // result.code says which).
  auto parse_into = [&](TrainConfig& cfg, TrainInvocation& invocation) {
    CLI::App app;
    build_app(app, cfg, invocation);
    try {
      app.parse(argc, args);
    } catch (const CLI::ParseError& e) {
      const int code = app.exit(e, out, err);
      result.code = code == 0 ? 0 : 2;
      return false;
    }
    invocation.given = given_keys(app);
    return true;
  };

  // Pass 1: which base (defaults, --config, or --resume) and which keys the flags set.
  TrainConfig scratch;
  TrainInvocation first;
  if (!parse_into(scratch, first)) return result;

  TrainConfig base;
  ResumeBase resume;
  const std::set<std::string> allowed(first.allow_change.begin(), first.allow_change.end());
  try {
    if (!first.resume.empty()) {
      if (!first.config_file.empty()) return fail("--config cannot be combined with --resume (the run's config.json is used)");
      if (!first.init_from.empty()) return fail("--init-from cannot be combined with --resume (the run's checkpoint is used)");
      const std::string file = (fs::path(first.resume) / "config.json").string();
      if (!fs::exists(file))
        return fail("--resume: '" + first.resume + "' holds no config.json (not a run directory?)");
      if (!first.out.empty() && fs::path(first.out).lexically_normal() != fs::path(first.resume).lexically_normal())
        return fail("--out cannot differ from --resume (a resumed run stays in its directory)");
      // The checkpoint's configuration is the run's; config.json may only repeat it.
      resume = resume_base(read_json_file<std::invalid_argument>(file), checkpoint_config(first.resume), allowed);
      apply_json(resume.config, base, file);
    } else if (!first.config_file.empty()) {
      apply_json(read_json_file<std::invalid_argument>(first.config_file), base, first.config_file);
    }
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  // Pass 2: the flags over the base.
  TrainInvocation& inv = result.inv;
  inv.cfg = base;
  if (!parse_into(inv.cfg, inv)) return result;

  if (!inv.resume.empty()) {
    inv.out = inv.resume;
    check_resume_flags(resume, to_json(inv.cfg), inv.given, allowed);
    if (!resume.refused.empty()) {
      std::string refused, safe;
      for (const std::string& key : resume.refused) refused += (refused.empty() ? "" : ", ") + key;
      for (const std::string& key : resume_safe_keys()) safe += (safe.empty() ? "--" : ", --") + key;
      return fail("--resume: " + refused + " would change what the run computes (its checkpoint has other " +
                  "values; an edited config.json counts too); only " + safe + " may differ, or name the " +
                  "option with --allow-change (e.g. --allow-change " + resume.refused.front().substr(2) +
                  ") and the change is logged");
    }
    inv.config_changes = resume.changes;
  } else if (!inv.allow_change.empty()) {
    return fail("--allow-change needs --resume (a new run has nothing to change)");
  }
  {
    std::set<std::string> known;
    TrainConfig probe;
    for_each_field(probe, [&](const char* key, auto&) { known.insert(key); });
    for (const std::string& key : inv.allow_change)
      if (!known.count(key)) return fail("--allow-change: '" + key + "' is not an option name (e.g. lr, batch-size)");
  }
  if (inv.cfg.data.empty()) inv.cfg.data = default_data_root();
  if (inv.evaluate_only && inv.resume.empty() && inv.init_from.empty())
    return fail("--evaluate needs weights: --resume RUN (its best checkpoint) or --init-from FILE");
  if (!inv.init_from.empty() && !fs::is_regular_file(inv.init_from))
    return fail("--init-from: '" + inv.init_from + "' is not a file");
  if (inv.stop_after_epoch < 0) return fail("--stop-after-epoch must be >= 0");
  try {
    inv.cfg.validate();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  if (inv.stop_after_write < 0) return fail("--fault-stop-after-write must be >= 0");
  if (inv.overwrite && !inv.resume.empty()) return fail("--overwrite starts a new run; it cannot be combined with --resume");
  inv.out_is_default = inv.out.empty();
  if (inv.out.empty()) inv.out = default_out(inv.cfg);
  result.proceed = true;
  return result;
}

}  // namespace hsanet::train
