#include "apps/train/trainer.h"

#include "cli/model_options.h"

#include <fmt/printf.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>

#include "apps/train/checkpoint.h"
#include "apps/train/early_stopping.h"
#include "apps/train/epoch_loop.h"
#include "apps/train/evaluation.h"
#include "apps/train/init_listing.h"
#include "apps/train/memory_estimate.h"
#include "apps/train/plateau_lr.h"
#include "apps/train/pretrained_groups.h"
#include "apps/train/report.h"
#include "apps/train/report_explain.h"
#include "apps/train/resume.h"
#include "apps/train/run_dir.h"
#include "apps/train/run_log.h"
#include "apps/train/run_setup.h"
#include "apps/train/write_points.h"
#include "base/random.h"
#include "data/data_error.h"
#include "io/atomic_file.h"
#include "models/resnet.h"
#include "nn/distributed.h"
#include "nn/ema.h"
#include "nn/layers.h"
#include "ops/parallel.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

// printf-style formatting into a string of any length: messages carry paths of any length.
std::string strf(const char* format, const auto&... args) { return fmt::sprintf(format, args...); }

// A weight that went non-finite: save_state_dict refused to write it.
class DivergedWeights : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string banner(const TrainInvocation& inv, const models::ModelConfig& mc, int64_t params,
                   const data::ImageFolder& dataset, const data::Split& split, const std::string& resumed) {
  const TrainConfig& c = inv.cfg;
  std::string s;
  s += strf("cpu_train: %s, %.2f M parameters, input %dx%d, %d classes%s\n", mc.name.c_str(), params / 1e6,
           mc.height, mc.width, mc.num_classes,
           mc.width_mult != 1.0 ? strf(" (width x%g)", mc.width_mult).c_str() : "");
  s += cli::precision_line(mc.precision) + "\n";
  s += strf("data: %s: %d classes, %d images; split %zu train / %zu val%s\n", c.data.c_str(),
           dataset.num_classes(), dataset.size(), split.train.size(), split.val.size(),
           dataset.has_explicit_split() ? " (train/ and val/ folders)"
                                        : strf(" (val fraction %g, seed %llu)", c.val_fraction,
                                              static_cast<unsigned long long>(c.seed)).c_str());
  std::string sched = c.sched == "cosine" ? strf("cosine to %g x lr", c.alpha)
                      : c.sched == "step" ? strf("step x%g every %d epochs", c.gamma, c.step_size)
                      : c.sched == "plateau"
                          ? strf("plateau: x%g after %d epochs without improvement of %s%s", c.plateau_factor,
                                 c.plateau_patience + 1, c.monitor.c_str(), c.select_by == "ema" ? " (EMA)" : "")
                          : std::string("constant");
  if (c.warmup_steps > 0) sched += strf(", %d warm-up steps", c.warmup_steps);
  if (c.accum_steps > 1)
    sched += strf(", gradients accumulated over %d batches (%d images per step)", c.accum_steps,
                  c.accum_steps * c.batch_size);
  if (c.ema > 0)
    sched += strf(", EMA of the weights, decay %g%s, best chosen by the %s model", c.ema,
                  c.ema_warmup ? " with warm-up" : "", c.select_by == "ema" ? "EMA" : "raw");
  s += strf("training: %d epochs, batch %d, %s lr %g%s, weight decay %g, %s, label smoothing %g%s\n", c.epochs,
           c.batch_size, c.opt.c_str(), c.lr, c.opt == "sgd" ? strf(" momentum %g", c.momentum).c_str() : "",
           c.weight_decay, sched.c_str(), c.label_smoothing,
           c.limit_batches > 0 ? strf(", at most %d batches per epoch", c.limit_batches).c_str() : "");
  std::string aug = c.augment ? strf("random resized crop (area %g-%g), flip p %g, erasing p %g", c.scale_min,
                                     c.scale_max, c.hflip, c.erase)
                               : std::string("off");
  if (c.augment) {
    const data::ColorJitterConfig cj = c.train_transform().color_jitter;
    if (cj.enabled()) aug += strf(", colour jitter %g,%g,%g", cj.brightness, cj.contrast, cj.saturation);
    const data::MixConfig m = c.mix();
    if (m.enabled()) {
      std::string which = m.mixup_alpha > 0 && m.cutmix_alpha > 0
                              ? strf("mixup %g / cutmix %g (cutmix p %g)", m.mixup_alpha, m.cutmix_alpha, m.switch_prob)
                          : m.mixup_alpha > 0 ? strf("mixup %g", m.mixup_alpha)
                                              : strf("cutmix %g", m.cutmix_alpha);
      aug += "; batches: " + which + strf(", p %g", m.prob);
    }
  }
  s += strf("augmentation: %s; centre crop %g\n", aug.c_str(), c.center_crop);
  s += strf("threads: %d compute, %d data loading\n", ops::num_threads(), c.workers);
  s += "run directory: " + inv.out + resumed;
  return s;
}

data::LoaderOptions train_loader_options(const TrainConfig& c, size_t samples, const nn::Communicator& comm) {
  // Batch norm in training mode needs two samples per process: drop a last batch that would
  // give a process fewer (one process: a last batch of one).
  const size_t rest = samples % c.batch_size, P = static_cast<size_t>(comm.size());
  const data::MixConfig mix = c.mix();
  return {.batch_size = c.batch_size, .shuffle = true,
          .drop_last = c.batch_size > 1 && rest > 0 && rest < 2 * P, .seed = c.seed, .workers = c.workers,
          .mixup_alpha = mix.mixup_alpha, .cutmix_alpha = mix.cutmix_alpha, .mix_prob = mix.prob,
          .mix_switch_prob = mix.switch_prob, .rank = comm.rank(), .world_size = comm.size()};
}

data::LoaderOptions eval_loader_options(const TrainConfig& c) {
  return {.batch_size = c.eval_batch_size, .shuffle = false, .drop_last = false, .seed = c.seed, .workers = c.workers};
}

void save_checkpoint(const std::string& path, const nn::Module& model, const nn::Optimizer& opt,
                     const TrainingState& state, const RunIdentity& run, const nn::ModelEma* ema) {
  try {
    save_training_checkpoint(path, model, opt, state, run, ema);
  } catch (const std::domain_error& e) {
    throw DivergedWeights(std::string(e.what()) + ": the weights diverged during epoch " +
                          std::to_string(state.epoch));
  }
}

// The moving average's score on `loader`: swapped into the model, evaluated, swapped back.
EvalResult evaluate_ema(nn::Module& model, nn::ModelEma& ema, data::DataLoader& loader) {
  ema.swap_with(model);
  try {
    EvalResult r = evaluate(model, loader);
    ema.swap_with(model);
    return r;
  } catch (...) {
    ema.swap_with(model);
    throw;
  }
}

// --evaluate: the report of one checkpoint on the run's validation split.
int evaluate_only(const TrainInvocation& inv, RunLog& log, nn::Module& model, const data::ImageFolder& dataset,
                  const data::Split& split) {
  const RunFiles run{inv.out};
  std::string source = inv.init_from;
  if (source.empty()) source = fs::exists(run.best()) ? run.best() : run.last();
  io::SafeTensorsFile file = io::read_safetensors(source);
  io::LoadReport lr = load_model_weights(file, source, model, /*strict=*/false);
  if (!lr.complete()) log.line(describe_weight_load(lr, source));
  data::DataLoader val(dataset, split.val, data::Transform(inv.cfg.eval_transform()), eval_loader_options(inv.cfg));
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r = evaluate(model, val);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string heading = strf("evaluation of %s on %zu validation images: loss %.4f, accuracy %.4f (%.1f s)\n",
                                  source.c_str(), r.truth.size(), r.loss, r.accuracy, secs);
  const std::string text = write_evaluation_files(inv.out, "eval_", heading, dataset, r,
                                                  {{"checkpoint", source}, {"seconds", secs}});
  log.line(text);
  log.line("wrote " + inv.out + "/eval_report.txt, eval_report.json, eval_confusion.csv, eval_predictions.csv");
  log.event("evaluate", {{"checkpoint", source}, {"accuracy", r.accuracy}, {"loss", r.loss}});
  return 0;
}

// One cpu_train run, in its phases. The constructor sets everything up: the checks, the run
// directory, the data and its split, the model, the optimiser, a resume, --init-from, the
// loaders. run() trains the epochs, closing each with end_of_epoch (evaluation, history, log,
// checkpoints), and ends with final_report.
class TrainingRun {
 public:
  TrainingRun(const TrainInvocation& inv, std::ostream& out, std::ostream& err, bool tty);
  int run();

 private:
  void set_up_training(bool tty);  // --init-from, data parallelism, the loaders
  bool stops_early(int epoch);     // early stopping, judged from the history
  void apply_plateau_lr(int epoch);
  // Rank 0 only. True when the run stops after this epoch as --stop-after-epoch asked.
  bool end_of_epoch(int epoch, const EpochResult& tr, std::chrono::steady_clock::time_point t0);
  int final_report();

  const TrainInvocation& inv_;
  const TrainConfig& cfg_;
  const RunFiles run_;
  const bool resuming_;
  // Data-parallel (docs/distributed.md): rank 0 alone prints and writes; the others train.
  nn::LocalCommunicator one_process_;
  nn::Communicator& comm_;
  const int world_;
  const bool root_;
  std::ostream silent_{nullptr};
  std::ostream& console_;
  WritePoints points_;
  std::optional<data::ImageFolder> dataset_;
  data::Split split_;
  std::optional<RunLog> log_;
  std::optional<RunIdentity> identity_;
  std::shared_ptr<models::ResNet> model_;
  std::unique_ptr<nn::Optimizer> opt_;
  std::optional<nn::LrSchedule> schedule_;
  std::unique_ptr<nn::ModelEma> ema_;  // --ema
  bool by_ema_ = false;                // --select-by ema
  TrainingState state_;
  std::string listing_path_;           // init_from.json in the run directory
  std::string init_path_;              // the --init-from file, when it is read now
  std::optional<io::SafeTensorsFile> init_file_;
  std::string init_source_;            // the --init-from file, for report.json
  std::unique_ptr<data::DataLoader> train_loader_, val_loader_;
  std::optional<ProgressLine> progress_;
  std::optional<EpochContext> ctx_;
  std::unique_ptr<nn::DataParallel> parallel_;
  EvalResult last_eval_, last_ema_eval_;  // the raw model's and the average's on the validation split
  bool have_eval_ = false;
  std::string stop_reason_;  // set when early stopping ends the run before cfg.epochs
};

TrainingRun::TrainingRun(const TrainInvocation& inv, std::ostream& out, std::ostream& err, bool tty)
    : inv_(inv), cfg_(inv.cfg), run_{inv.out}, resuming_(!inv.resume.empty()),
      comm_(inv.comm ? *inv.comm : one_process_), world_(comm_.size()), root_(comm_.rank() == 0),
      console_(root_ ? out : silent_), points_(inv.stop_after_write) {
  const TrainConfig& cfg = cfg_;
  if (cfg.threads > 0) ops::set_num_threads(cfg.threads);
  ops::flush_denormals(true);  // tiny gradients late in training must not hit the slow path
  cli::usable_attention_device(cfg.attention_device);  // throws with the reason if unavailable
  if (world_ > 1 && inv.evaluate_only)
    throw std::runtime_error("--evaluate runs in one process; start it without mpirun");
  if (world_ > 1 && cfg.accum_steps > 1)
    throw std::runtime_error("--accum-steps runs in one process; under mpirun the processes already share a larger "
                             "batch (raise --batch-size instead)");
  if (world_ > 1 && cfg.batch_size < 2 * world_)
    throw std::runtime_error("--batch-size " + std::to_string(cfg.batch_size) + " is the global batch: " +
                             std::to_string(world_) + " processes need at least " + std::to_string(2 * world_) +
                             " (two samples each, for batch norm)");

  // A configuration that cannot fit in memory is refused with the estimate, before any allocation.
  if (!inv.evaluate_only) check_fits_in_memory(cfg, physical_memory_bytes(), world_);
  // Where the run writes is settled before any image is read: a refused or unwritable directory
  // is reported at once, not after the whole data set was decoded.
  if (root_) {
    if (inv.evaluate_only) check_writable_dir(run_.dir, "--out");
    else if (resuming_) check_writable_dir(run_.dir, "--resume");
    else prepare_new_run_dir(run_.dir, inv.overwrite);
  }
  // A resumed run that never completed an epoch starts again, from its config.json.
  const bool continuing = resuming_ && inspect_run_dir(run_.dir).has_checkpoint;
  // Weights to start from are read and checked whole before anything is written. A run started
  // with --init-from that is started again from its config.json takes the same file again.
  listing_path_ = (fs::path(run_.dir) / kInitListingFile).string();
  init_path_ = inv.evaluate_only ? "" : inv.init_from;
  if (resuming_ && !continuing && !inv.evaluate_only && fs::exists(listing_path_))
    init_path_ = read_init_listing(listing_path_).source;
  if (!init_path_.empty()) {
    init_file_ = io::read_safetensors(init_path_);
    validate_weights_file(*init_file_, init_path_);
  }

  dataset_.emplace(open_dataset(cfg, err));
  const data::ImageFolder& dataset = *dataset_;
  // Ranks other than 0 draw the same split (the same seed) or read it back, and write nothing.
  split_ = !root_ ? (continuing ? data::read_split_csv(run_.split(), dataset)
                                : data::stratified_split(dataset, cfg.val_fraction, cfg.seed))
           : inv.evaluate_only ? (resuming_ ? data::read_split_csv(run_.split(), dataset)
                                            : data::stratified_split(dataset, cfg.val_fraction, cfg.seed))
           : continuing        ? resume_run_files(run_, cfg, dataset, points_)
                               : start_run_files(run_, cfg, dataset, points_);
  if (root_) {
    fs::create_directories(run_.dir);
    io::remove_stale_temp_files(run_.last());
    io::remove_stale_temp_files(run_.best());
  }
  if (root_) log_.emplace(run_.dir, console_);
  else log_.emplace(console_);
  RunLog& log = *log_;

  identity_ = RunIdentity{cfg, cfg.model_config(dataset.num_classes()), dataset.classes()};
  model_ = models::build_model(identity_->model, cfg.seed);
  opt_ = make_optimizer(cfg, *model_);
  // --sched plateau: the base lr is set before each epoch from the history (plateau_lr.h).
  schedule_.emplace(cfg.schedule(), cfg.epochs);
  // --ema: the average starts as a copy of the model (after --init-from and the resume, below).
  if (cfg.ema > 0) ema_ = std::make_unique<nn::ModelEma>(*model_, cfg.ema, cfg.ema_warmup);
  by_ema_ = ema_ && cfg.select_by == "ema";

  std::string resumed;
  std::string resume_notes;
  if (resuming_ && !inv.evaluate_only) {
    Restored restored = restore_run(run_, *model_, *opt_, points_, /*repair=*/root_, ema_.get());
    state_ = restored.state;
    resume_notes = restored.notes;
    if (state_.epoch > cfg.epochs)
      throw std::runtime_error("--epochs " + std::to_string(cfg.epochs) + ": the run has already completed " +
                               std::to_string(state_.epoch) + " epochs");
    resumed = strf(" (resumed after epoch %d of %d, global step %lld)", state_.epoch, cfg.epochs, state_.global_step);
  }
  log.line(banner(inv, identity_->model, model_->num_parameters(), dataset, split_, resumed));
  if (!resume_notes.empty()) log.line(resume_notes.substr(0, resume_notes.size() - 1));
  for (const std::string& c : inv.config_changes) {
    log.line("resume: changed " + c);
    log.event("config_change", {{"change", c}, {"epoch", state_.epoch}});
  }
  if (!inv.evaluate_only) set_up_training(tty);
}

void TrainingRun::set_up_training(bool tty) {
  const TrainConfig& cfg = cfg_;
  RunLog& log = *log_;
  // --init-from: what was loaded is listed in the run directory; a resumed run reads the list back,
  // since --freeze-epochs and --lr-pretrained-mult act on the loaded parameters.
  std::set<std::string> pretrained;
  if (init_file_) {
    const InitListing listing = init_from_weights(*init_file_, init_path_, *model_);
    init_file_.reset();
    if (root_) io::write_file_atomically(listing_path_, init_listing_json(listing).dump(1) + "\n");
    std::string summary = init_listing_summary(listing, root_ ? listing_path_ : "");
    log.line(summary.substr(0, summary.size() - 1));
    log.event("init_from", {{"source", listing.source}, {"loaded", listing.count("loaded")},
                            {"fresh", listing.count("fresh")}, {"unused", listing.count("unused")}});
    pretrained = listing.loaded_names();
    init_source_ = listing.source;
  } else if (resuming_ && fs::exists(listing_path_)) {
    const InitListing listing = read_init_listing(listing_path_);
    pretrained = listing.loaded_names();
    init_source_ = listing.source;
  }
  const std::vector<size_t> loaded = pretrained_parameters(*opt_, pretrained);  // into opt_->params()
  if (const std::string groups = apply_pretrained_groups(cfg, *opt_, loaded); !groups.empty()) log.line(groups);
  // Every rank starts from rank 0's weights (and running statistics).
  nn::broadcast_tensors(comm_, model_->state_dict(), 0);
  if (ema_ && state_.global_step == 0) ema_->load(model_->state_dict());
  if (world_ > 1)
    log.line(strf("data parallel: %d processes (%s), %d images per process per step, batch norm %s, "
                 "gradient buckets %g MB%s", world_, comm_.name().c_str(), cfg.batch_size / world_,
                 inv_.sync_bn ? "synchronised" : "per process", inv_.bucket_mb,
                 inv_.overlap ? ", summed during backward" : ""));
  log.event(resuming_ ? "resume" : "start",
            {{"config", to_json(cfg)}, {"model", model_config_json(identity_->model)}, {"params", model_->num_parameters()},
             {"train", split_.train.size()}, {"val", split_.val.size()}, {"epoch", state_.epoch},
             {"global_step", state_.global_step}, {"threads", ops::num_threads()}});

  const data::ImageFolder& dataset = *dataset_;
  train_loader_ = std::make_unique<data::DataLoader>(dataset, split_.train, data::Transform(cfg.train_transform()),
                                                     train_loader_options(cfg, split_.train.size(), comm_));
  val_loader_ = std::make_unique<data::DataLoader>(dataset, split_.val, data::Transform(cfg.eval_transform()),
                                                   eval_loader_options(cfg));
  progress_.emplace(console_, tty, cfg.log_interval);
  ctx_.emplace(EpochContext{*model_, *opt_, *schedule_, *train_loader_, cfg, *progress_, log, inv_.fault_nan_step});
  ctx_->ema = ema_.get();
  ctx_->pretrained = loaded;
  if (cfg.freeze_bn) ctx_->frozen_bn = pretrained_batch_norms(*model_, pretrained);
  if (world_ > 1) {  // --sync-bn: every batch norm takes its training statistics over the processes
    parallel_ = std::make_unique<nn::DataParallel>(comm_, *model_, static_cast<int64_t>(inv_.bucket_mb * 1e6),
                                                   inv_.overlap, inv_.sync_bn);
    ctx_->parallel = parallel_.get();
  }
}

bool TrainingRun::stops_early(int epoch) {
  // Judged before each epoch from the history alone, so a resumed run stops where an
  // uninterrupted one would, and resuming a stopped run trains no further.
  stop_reason_ = early_stop_reason(state_.history, cfg_.patience, cfg_.monitor, cfg_.min_delta, by_ema_);
  if (stop_reason_.empty()) return false;
  log_->line(strf("%s: stopped after epoch %d of %d", stop_reason_.c_str(), epoch, cfg_.epochs));
  log_->event("early_stop", {{"after_epoch", epoch}, {"reason", stop_reason_}});
  return true;
}

void TrainingRun::apply_plateau_lr(int epoch) {
  if (cfg_.sched != "plateau") return;
  // Replayed from the history, so a resumed run agrees.
  const std::vector<double> lrs = plateau_lrs(state_.history, cfg_);  // [epoch + 1]
  nn::ScheduleOptions o = cfg_.schedule();
  o.base_lr = static_cast<float>(lrs.back());
  *schedule_ = nn::LrSchedule(o, cfg_.epochs);
  if (lrs.size() > 1 && lrs.back() < lrs[lrs.size() - 2]) {
    log_->line(strf("plateau: %s%s has not improved for %d epochs (--plateau-patience %d): lr %g -> %g from epoch %d",
                    by_ema_ ? "the EMA's " : "", cfg_.monitor.c_str(), cfg_.plateau_patience + 1,
                    cfg_.plateau_patience, lrs[lrs.size() - 2], lrs.back(), epoch + 1));
    log_->event("lr_reduced", {{"epoch", epoch + 1}, {"from", lrs[lrs.size() - 2]}, {"to", lrs.back()}});
  }
}

int TrainingRun::run() {
  if (inv_.evaluate_only) return evaluate_only(inv_, *log_, *model_, *dataset_, split_);
  for (int epoch = state_.epoch; epoch < cfg_.epochs; ++epoch) {
    if (stops_early(epoch)) break;
    apply_plateau_lr(epoch);
    if (cfg_.freeze_epochs > 0 && epoch == cfg_.freeze_epochs)
      log_->line(strf("epoch %d: the pretrained parameters are unfrozen", epoch + 1));
    const auto t0 = std::chrono::steady_clock::now();
    EpochResult tr;
    try {
      tr = train_one_epoch(*ctx_, epoch, state_.global_step);
    } catch (const NonFiniteLoss& e) {
      log_->event("error", {{"kind", "non-finite loss"}, {"epoch", e.epoch()}, {"global_step", e.step()}, {"message", e.what()}});
      throw;
    }
    // Per-process batch norm leaves per-process running statistics: rank 0's are the model's.
    if (world_ > 1) nn::broadcast_tensors(comm_, model_->named_buffers(), 0);
    const bool asked_to_stop = inv_.stop_after_epoch > 0 && epoch + 1 == inv_.stop_after_epoch && epoch + 1 < cfg_.epochs;
    if (!root_) {  // rank 0 evaluates and writes; the others go on to the next epoch
      if (asked_to_stop) return 0;
      continue;
    }
    if (end_of_epoch(epoch, tr, t0)) return 0;
  }
  if (!root_) return 0;
  return final_report();
}

bool TrainingRun::end_of_epoch(int epoch, const EpochResult& tr, std::chrono::steady_clock::time_point t0) {
  RunLog& log = *log_;
  last_eval_ = evaluate(*model_, *val_loader_);
  if (ema_) last_ema_eval_ = evaluate_ema(*model_, *ema_, *val_loader_);
  have_eval_ = true;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  state_.epoch = epoch + 1;
  EpochRecord record{epoch + 1, tr.loss, tr.accuracy, last_eval_.loss, last_eval_.accuracy, tr.lr, secs,
                     last_eval_.top5};
  if (ema_) record.ema_val_loss = last_ema_eval_.loss, record.ema_val_acc = last_ema_eval_.accuracy;
  state_.history.push_back(record);
  // best.safetensors follows the accuracy of the model --select-by names.
  const double score = by_ema_ ? last_ema_eval_.accuracy : last_eval_.accuracy;
  const bool best = score > state_.best_val_acc;
  if (best) state_.best_val_acc = score, state_.best_epoch = epoch + 1;
  const std::string clipped = cfg_.clip_grad > 0 ? strf(" | grad norm %.4g", tr.grad_norm) : "";
  const std::string averaged =
      ema_ ? strf(" | ema val loss %.4f acc %.4f", last_ema_eval_.loss, last_ema_eval_.accuracy) : "";
  log.line(strf("epoch %d/%d  train loss %.4f acc %.4f | val loss %.4f acc %.4f top5 %.4f%s | lr %.6f%s | %.1f s%s",
               epoch + 1, cfg_.epochs, tr.loss, tr.accuracy, last_eval_.loss, last_eval_.accuracy, last_eval_.top5,
               averaged.c_str(), tr.lr, clipped.c_str(), secs, best ? "  (best)" : ""));
  log.event("epoch", {{"epoch", epoch + 1}, {"train_loss", tr.loss}, {"train_acc", tr.accuracy},
                      {"val_loss", last_eval_.loss}, {"val_acc", last_eval_.accuracy}, {"val_top5", last_eval_.top5}, {"lr", tr.lr},
                      {"seconds", secs}, {"global_step", state_.global_step}, {"wait_seconds", tr.wait_seconds},
                      {"grad_norm", cfg_.clip_grad > 0 ? nlohmann::json(tr.grad_norm) : nlohmann::json()},
                      {"steps", tr.steps},
                      {"ema_val_loss", ema_ ? nlohmann::json(last_ema_eval_.loss) : nlohmann::json()},
                      {"ema_val_acc", ema_ ? nlohmann::json(last_ema_eval_.accuracy) : nlohmann::json()}});
  // The metrics first, then last, then best: a kill between any two leaves files that a resume
  // reconciles (resume.h): metrics.csv is rewritten from the checkpoint's history, and a best
  // that lags behind last is brought up to date from it.
  write_metrics_csv(run_.metrics(), state_.history);
  points_.wrote(run_.metrics());
  try {
    save_checkpoint(run_.last(), *model_, *opt_, state_, *identity_, ema_.get());
    points_.wrote(run_.last());
    if (best) {
      save_checkpoint(run_.best(), *model_, *opt_, state_, *identity_, ema_.get());
      points_.wrote(run_.best());
    }
  } catch (const DivergedWeights& e) {
    log.event("error", {{"kind", "non-finite weights"}, {"epoch", epoch + 1}, {"message", e.what()}});
    throw;
  }
  log.event("checkpoint", {{"epoch", epoch + 1}, {"last", run_.last()}, {"best", best}});
  if (inv_.stop_after_epoch > 0 && epoch + 1 == inv_.stop_after_epoch && epoch + 1 < cfg_.epochs) {
    log.line(strf("stopped after epoch %d as asked; continue with --resume %s", epoch + 1, run_.dir.c_str()));
    return true;
  }
  return false;
}

int TrainingRun::final_report() {
  if (!have_eval_) {  // resumed a finished run: report again
    last_eval_ = evaluate(*model_, *val_loader_);
    if (ema_) last_ema_eval_ = evaluate_ema(*model_, *ema_, *val_loader_);
  }
  // The report is of the model --select-by names: with ema, the average's predictions.
  if (by_ema_) last_eval_ = last_ema_eval_;
  const ValSummary vs = summarize_val(state_.history);
  double seconds = 0;
  for (const EpochRecord& r : state_.history) seconds += r.seconds;
  // With --ema, the same figures of the average, and the report is of the model --select-by names.
  History ema_history = state_.history;
  for (EpochRecord& r : ema_history) r.val_acc = r.ema_val_acc;
  const ValSummary ema_vs = summarize_val(ema_history);
  const std::string ema_lines =
      ema_ ? "EMA " + val_summary_line(ema_history) + "\n" +
                (by_ema_ ? "the report below is of the EMA weights (--select-by ema)\n" : "")
          : "";
  const std::string heading =
      strf("%s, %d epochs, %dx%d, %zu train / %zu val images, %.0f s of training\n%s\n%s", identity_->model.name.c_str(),
          cfg_.epochs, cfg_.img_size, cfg_.img_size, split_.train.size(), split_.val.size(), seconds,
          val_summary_line(state_.history).c_str(), ema_lines.c_str());
  nlohmann::json extra = {{"val_acc_avg", vs.avg}, {"val_acc_max", vs.max}, {"val_acc_max_epoch", vs.max_epoch},
                          {"best_epoch", state_.best_epoch}, {"model", identity_->model.name}, {"epochs", cfg_.epochs},
                          {"img_size", cfg_.img_size}, {"seconds", seconds},
                          {"seconds_per_epoch", state_.history.empty() ? 0.0 : seconds / state_.history.size()},
                          {"num_train", split_.train.size()}, {"num_val", split_.val.size()},
                          {"num_params", model_->num_parameters()}, {"config", to_json(cfg_)},
                          {"model_config", model_config_json(identity_->model)},
                          {"epochs_run", state_.history.size()}, {"select_by", by_ema_ ? "ema" : "raw"},
                          {"stop_reason", stop_reason_.empty() ? "completed all epochs" : stop_reason_}};
  if (ema_)
    extra.update({{"ema_val_acc_avg", ema_vs.avg}, {"ema_val_acc_max", ema_vs.max},
                  {"ema_val_acc_max_epoch", ema_vs.max_epoch}});
  if (!init_source_.empty()) extra["init_from"] = init_source_;
  const std::string text = write_evaluation_files(run_.dir, "", heading, *dataset_, last_eval_, extra);
  points_.wrote(run_.file("report.json"));
  write_curves(run_.dir, state_.history);
  points_.wrote(run_.file("loss.svg"));
  log_->line("\n" + text);
  write_explain_samples(run_.dir, explain_sample_images(*dataset_, split_, 2), *log_);  // for report.html
  write_report_page(run_.dir, cfg_.data, *log_);
  log_->line("wrote " + run_.dir + "/{report.html, report.txt, report.json, confusion.csv, confusion.svg, predictions.csv, "
           "metrics.csv, loss.svg, accuracy.svg}; checkpoints last.safetensors and best.safetensors (epoch " +
           std::to_string(state_.best_epoch) + ")");
  log_->event("end", {{"val_acc_avg", vs.avg}, {"val_acc_max", vs.max}, {"accuracy", last_eval_.accuracy},
                    {"seconds", seconds}});
  return 0;
}

}  // namespace

int run_training(const TrainInvocation& inv, std::ostream& out, std::ostream& err, bool tty) {
  return TrainingRun(inv, out, err, tty).run();
}


namespace {

// run_training with its errors turned into messages and exit codes.
int train_and_report(TrainInvocation inv, std::ostream& out, std::ostream& err, bool tty) {
  try {
    // A default name is claimed by creating it (rank 0 alone writes; the others never use it).
    if (inv.out_is_default && (!inv.comm || inv.comm->rank() == 0)) inv.out = create_unique_dir(inv.out);
    return run_training(inv, out, err, tty);
  } catch (const SimulatedCrash& e) {
    err << "cpu_train: " << e.what() << "\n";
    return 9;
  } catch (const NonFiniteLoss& e) {
    err << "cpu_train: error: " << e.what() << ". Stopped; "
        << (fs::exists(RunFiles{inv.out}.last()) ? "the last good checkpoint, " + RunFiles{inv.out}.last() + ", is untouched"
                                                        : std::string("no checkpoint was written"))
        << ". A lower --lr (or a warm-up) usually helps.\n";
    return 3;
  } catch (const DivergedWeights& e) {
    err << "cpu_train: error: " << e.what() << ". Stopped; the previous checkpoint is untouched.\n";
    return 3;
  } catch (const data::DataError& e) {
    err << "cpu_train: data error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "cpu_train: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int cpu_train_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err, bool tty) {
  ParseResult parsed = parse_train_command_line(argc, argv, out, err);
  if (!parsed.proceed) return parsed.code;
  // Started by mpirun: join the job (each process runs this same command line).
  std::unique_ptr<nn::Communicator> world;
  if (!parsed.inv.comm && nn::mpi_available() && nn::launched_by_mpi()) {
    world = nn::make_mpi_communicator();
    parsed.inv.comm = world.get();
  }
  const int code = train_and_report(parsed.inv, out, err, tty);
  nn::Communicator* comm = parsed.inv.comm;
  // A failed rank must not leave the others waiting in a collective: end the whole job.
  if (code != 0 && comm && comm->size() > 1)
    comm->abort("cpu_train: process " + std::to_string(comm->rank()) + " of " + std::to_string(comm->size()) +
                    " failed (exit code " + std::to_string(code) + ", its message above); stopping the whole job",
                code);
  return code;
}

}  // namespace hsanet::train
