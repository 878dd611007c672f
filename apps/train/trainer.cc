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
#include "autograd/batch_norm_sync.h"
#include "base/random.h"
#include "data/data_error.h"
#include "io/atomic_file.h"
#include "models/resnet.h"
#include "nn/distributed.h"
#include "nn/ema.h"
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

// While alive, batch norm in training mode takes its statistics over every process.
class SyncBatchNorm {
 public:
  SyncBatchNorm(nn::Communicator& comm, bool on) : on_(on) {
    if (on_) previous_ = set_batch_norm_sync([&comm](double* d, int64_t n) { comm.all_reduce_sum(d, n); });
  }
  ~SyncBatchNorm() {
    if (on_) set_batch_norm_sync(std::move(previous_));
  }
  SyncBatchNorm(const SyncBatchNorm&) = delete;
  SyncBatchNorm& operator=(const SyncBatchNorm&) = delete;

 private:
  bool on_;
  StatsAllReduce previous_;
};

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

}  // namespace

int run_training(const TrainInvocation& inv, std::ostream& out, std::ostream& err, bool tty) {
  const TrainConfig& cfg = inv.cfg;
  const RunFiles run{inv.out};
  const bool resuming = !inv.resume.empty();
  if (cfg.threads > 0) ops::set_num_threads(cfg.threads);
  ops::flush_denormals(true);  // tiny gradients late in training must not hit the slow path
  cli::apply_attention_device(cfg.attention_device);  // throws with the reason if unavailable
  cli::apply_conv_algorithm(cfg.conv_algorithm);
  // Data-parallel (docs/distributed.md): rank 0 alone prints and writes; the others train.
  nn::LocalCommunicator one_process;
  nn::Communicator& comm = inv.comm ? *inv.comm : one_process;
  const int world = comm.size();
  const bool root = comm.rank() == 0;
  std::ostream silent(nullptr);
  std::ostream& console = root ? out : silent;
  if (world > 1 && inv.evaluate_only)
    throw std::runtime_error("--evaluate runs in one process; start it without mpirun");
  if (world > 1 && cfg.accum_steps > 1)
    throw std::runtime_error("--accum-steps runs in one process; under mpirun the processes already share a larger "
                             "batch (raise --batch-size instead)");
  if (world > 1 && cfg.batch_size < 2 * world)
    throw std::runtime_error("--batch-size " + std::to_string(cfg.batch_size) + " is the global batch: " +
                             std::to_string(world) + " processes need at least " + std::to_string(2 * world) +
                             " (two samples each, for batch norm)");

  // A configuration that cannot fit in memory is refused with the estimate, before any allocation.
  if (!inv.evaluate_only) check_fits_in_memory(cfg, physical_memory_bytes(), world);
  // Where the run writes is settled before any image is read: a refused or unwritable directory
  // is reported at once, not after the whole data set was decoded.
  if (root) {
    if (inv.evaluate_only) check_writable_dir(run.dir, "--out");
    else if (resuming) check_writable_dir(run.dir, "--resume");
    else prepare_new_run_dir(run.dir, inv.overwrite);
  }
  // A resumed run that never completed an epoch starts again, from its config.json.
  const bool continuing = resuming && inspect_run_dir(run.dir).has_checkpoint;
  // Weights to start from are read and checked whole before anything is written. A run started
  // with --init-from that is started again from its config.json takes the same file again.
  const std::string listing_path = (fs::path(run.dir) / kInitListingFile).string();
  std::string init_path = inv.evaluate_only ? "" : inv.init_from;
  if (resuming && !continuing && !inv.evaluate_only && fs::exists(listing_path))
    init_path = read_init_listing(listing_path).source;
  std::optional<io::SafeTensorsFile> init_file;
  if (!init_path.empty()) {
    init_file = io::read_safetensors(init_path);
    validate_weights_file(*init_file, init_path);
  }
  WritePoints points(inv.stop_after_write);

  data::ImageFolder dataset = open_dataset(cfg, err);
  // Ranks other than 0 draw the same split (the same seed) or read it back, and write nothing.
  data::Split split = !root ? (continuing ? data::read_split_csv(run.split(), dataset)
                                          : data::stratified_split(dataset, cfg.val_fraction, cfg.seed))
                      : inv.evaluate_only ? (resuming ? data::read_split_csv(run.split(), dataset)
                                                      : data::stratified_split(dataset, cfg.val_fraction, cfg.seed))
                      : continuing        ? resume_run_files(run, cfg, dataset, points)
                                          : start_run_files(run, cfg, dataset, points);
  if (root) {
    fs::create_directories(run.dir);
    io::remove_stale_temp_files(run.last());
    io::remove_stale_temp_files(run.best());
  }
  RunLog log = root ? RunLog(run.dir, console) : RunLog(console);

  const RunIdentity identity{cfg, cfg.model_config(dataset.num_classes()), dataset.classes()};
  manual_seed(cfg.seed);
  std::shared_ptr<models::ResNet> model = models::build_model(identity.model);
  std::unique_ptr<nn::Optimizer> opt = make_optimizer(cfg, *model);
  // --sched plateau: the base lr is set before each epoch from the history (plateau_lr.h).
  nn::LrSchedule schedule(cfg.schedule(), cfg.epochs);
  // --ema: the average starts as a copy of the model (after --init-from and the resume, below).
  std::unique_ptr<nn::ModelEma> ema;
  if (cfg.ema > 0) ema = std::make_unique<nn::ModelEma>(*model, cfg.ema, cfg.ema_warmup);

  std::vector<size_t> ctx_pretrained;  // indices into opt->params() that --init-from loaded
  TrainingState state;
  std::string resumed;
  std::string resume_notes;
  if (resuming && !inv.evaluate_only) {
    Restored restored = restore_run(run, *model, *opt, points, /*repair=*/root, ema.get());
    state = restored.state;
    resume_notes = restored.notes;
    if (state.epoch > cfg.epochs)
      throw std::runtime_error("--epochs " + std::to_string(cfg.epochs) + ": the run has already completed " +
                               std::to_string(state.epoch) + " epochs");
    resumed = strf(" (resumed after epoch %d of %d, global step %lld)", state.epoch, cfg.epochs, state.global_step);
  }
  log.line(banner(inv, identity.model, model->num_parameters(), dataset, split, resumed));
  if (!resume_notes.empty()) log.line(resume_notes.substr(0, resume_notes.size() - 1));
  for (const std::string& c : inv.config_changes) {
    log.line("resume: changed " + c);
    log.event("config_change", {{"change", c}, {"epoch", state.epoch}});
  }
  if (inv.evaluate_only) return evaluate_only(inv, log, *model, dataset, split);

  // --init-from: what was loaded is listed in the run directory; a resumed run reads the list back,
  // since --freeze-epochs and --lr-pretrained-mult act on the loaded parameters.
  std::set<std::string> pretrained;
  std::string init_source;  // the --init-from file, for report.json
  if (init_file) {
    const InitListing listing = init_from_weights(*init_file, init_path, *model);
    init_file.reset();
    if (root) io::write_file_atomically(listing_path, init_listing_json(listing).dump(1) + "\n");
    std::string summary = init_listing_summary(listing, root ? listing_path : "");
    log.line(summary.substr(0, summary.size() - 1));
    log.event("init_from", {{"source", listing.source}, {"loaded", listing.count("loaded")},
                            {"fresh", listing.count("fresh")}, {"unused", listing.count("unused")}});
    pretrained = listing.loaded_names();
    init_source = listing.source;
  } else if (resuming && fs::exists(listing_path)) {
    const InitListing listing = read_init_listing(listing_path);
    pretrained = listing.loaded_names();
    init_source = listing.source;
  }
  ctx_pretrained = pretrained_parameters(*opt, pretrained);
  if (const std::string groups = apply_pretrained_groups(cfg, *opt, ctx_pretrained); !groups.empty()) log.line(groups);
  // Every rank starts from rank 0's weights (and running statistics).
  nn::broadcast_tensors(comm, model->state_dict(), 0);
  if (ema && state.global_step == 0) ema->load(model->state_dict());
  if (world > 1)
    log.line(strf("data parallel: %d processes (%s), %d images per process per step, batch norm %s, "
                 "gradient buckets %g MB%s", world, comm.name().c_str(), cfg.batch_size / world,
                 inv.sync_bn ? "synchronised" : "per process", inv.bucket_mb,
                 inv.overlap ? ", summed during backward" : ""));
  log.event(resuming ? "resume" : "start",
            {{"config", to_json(cfg)}, {"model", model_config_json(identity.model)}, {"params", model->num_parameters()},
             {"train", split.train.size()}, {"val", split.val.size()}, {"epoch", state.epoch},
             {"global_step", state.global_step}, {"threads", ops::num_threads()}});

  data::DataLoader train_loader(dataset, split.train, data::Transform(cfg.train_transform()),
                                train_loader_options(cfg, split.train.size(), comm));
  data::DataLoader val_loader(dataset, split.val, data::Transform(cfg.eval_transform()), eval_loader_options(cfg));
  ProgressLine progress(console, tty, cfg.log_interval);
  EpochContext ctx{*model, *opt, schedule, train_loader, cfg, progress, log, inv.fault_nan_step};
  ctx.ema = ema.get();
  const bool by_ema = ema && cfg.select_by == "ema";
  ctx.pretrained = ctx_pretrained;
  std::unique_ptr<nn::GradientReducer> reducer;
  if (world > 1) {
    reducer = std::make_unique<nn::GradientReducer>(comm, model->named_parameters(),
                                                    static_cast<int64_t>(inv.bucket_mb * 1e6), inv.overlap);
    ctx.comm = &comm;
    ctx.reducer = reducer.get();
  }
  const SyncBatchNorm sync_bn(comm, world > 1 && inv.sync_bn);

  EvalResult last_eval, last_ema_eval;  // the raw model's and the average's on the validation split
  bool have_eval = false;
  std::string stop_reason;  // set when early stopping ends the run before cfg.epochs
  for (int epoch = state.epoch; epoch < cfg.epochs; ++epoch) {
    // Judged before each epoch from the history alone, so a resumed run stops where an
    // uninterrupted one would, and resuming a stopped run trains no further.
    stop_reason = early_stop_reason(state.history, cfg.patience, cfg.monitor, cfg.min_delta, by_ema);
    if (!stop_reason.empty()) {
      log.line(strf("%s: stopped after epoch %d of %d", stop_reason.c_str(), epoch, cfg.epochs));
      log.event("early_stop", {{"after_epoch", epoch}, {"reason", stop_reason}});
      break;
    }
    if (cfg.sched == "plateau") {  // replayed from the history, so a resumed run agrees
      const std::vector<double> lrs = plateau_lrs(state.history, cfg);  // [epoch + 1]
      nn::ScheduleOptions o = cfg.schedule();
      o.base_lr = static_cast<float>(lrs.back());
      schedule = nn::LrSchedule(o, cfg.epochs);
      if (lrs.size() > 1 && lrs.back() < lrs[lrs.size() - 2]) {
        log.line(strf("plateau: %s%s has not improved for %d epochs (--plateau-patience %d): lr %g -> %g from epoch %d",
                      by_ema ? "the EMA's " : "", cfg.monitor.c_str(), cfg.plateau_patience + 1,
                      cfg.plateau_patience, lrs[lrs.size() - 2], lrs.back(), epoch + 1));
        log.event("lr_reduced", {{"epoch", epoch + 1}, {"from", lrs[lrs.size() - 2]}, {"to", lrs.back()}});
      }
    }
    if (cfg.freeze_epochs > 0 && epoch == cfg.freeze_epochs)
      log.line(strf("epoch %d: the pretrained parameters are unfrozen", epoch + 1));
    const auto t0 = std::chrono::steady_clock::now();
    EpochResult tr;
    try {
      tr = train_one_epoch(ctx, epoch, state.global_step);
    } catch (const NonFiniteLoss& e) {
      log.event("error", {{"kind", "non-finite loss"}, {"epoch", e.epoch()}, {"global_step", e.step()}, {"message", e.what()}});
      throw;
    }
    // Per-process batch norm leaves per-process running statistics: rank 0's are the model's.
    if (world > 1) nn::broadcast_tensors(comm, model->named_buffers(), 0);
    if (!root) {  // rank 0 evaluates and writes; the others go on to the next epoch
      if (inv.stop_after_epoch > 0 && epoch + 1 == inv.stop_after_epoch && epoch + 1 < cfg.epochs) return 0;
      continue;
    }
    last_eval = evaluate(*model, val_loader);
    if (ema) last_ema_eval = evaluate_ema(*model, *ema, val_loader);
    have_eval = true;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    state.epoch = epoch + 1;
    EpochRecord record{epoch + 1, tr.loss, tr.accuracy, last_eval.loss, last_eval.accuracy, tr.lr, secs,
                       last_eval.top5};
    if (ema) record.ema_val_loss = last_ema_eval.loss, record.ema_val_acc = last_ema_eval.accuracy;
    state.history.push_back(record);
    // best.safetensors follows the accuracy of the model --select-by names.
    const double score = by_ema ? last_ema_eval.accuracy : last_eval.accuracy;
    const bool best = score > state.best_val_acc;
    if (best) state.best_val_acc = score, state.best_epoch = epoch + 1;
    const std::string clipped = cfg.clip_grad > 0 ? strf(" | grad norm %.4g", tr.grad_norm) : "";
    const std::string averaged =
        ema ? strf(" | ema val loss %.4f acc %.4f", last_ema_eval.loss, last_ema_eval.accuracy) : "";
    log.line(strf("epoch %d/%d  train loss %.4f acc %.4f | val loss %.4f acc %.4f top5 %.4f%s | lr %.6f%s | %.1f s%s",
                 epoch + 1, cfg.epochs, tr.loss, tr.accuracy, last_eval.loss, last_eval.accuracy, last_eval.top5,
                 averaged.c_str(), tr.lr, clipped.c_str(), secs, best ? "  (best)" : ""));
    log.event("epoch", {{"epoch", epoch + 1}, {"train_loss", tr.loss}, {"train_acc", tr.accuracy},
                        {"val_loss", last_eval.loss}, {"val_acc", last_eval.accuracy}, {"val_top5", last_eval.top5}, {"lr", tr.lr},
                        {"seconds", secs}, {"global_step", state.global_step}, {"wait_seconds", tr.wait_seconds},
                        {"grad_norm", cfg.clip_grad > 0 ? nlohmann::json(tr.grad_norm) : nlohmann::json()},
                        {"steps", tr.steps},
                        {"ema_val_loss", ema ? nlohmann::json(last_ema_eval.loss) : nlohmann::json()},
                        {"ema_val_acc", ema ? nlohmann::json(last_ema_eval.accuracy) : nlohmann::json()}});
    // The metrics first, then last, then best: a kill between any two leaves files that a resume
    // reconciles (resume.h): metrics.csv is rewritten from the checkpoint's history, and a best
    // that lags behind last is brought up to date from it.
    write_metrics_csv(run.metrics(), state.history);
    points.wrote(run.metrics());
    try {
      save_checkpoint(run.last(), *model, *opt, state, identity, ema.get());
      points.wrote(run.last());
      if (best) {
        save_checkpoint(run.best(), *model, *opt, state, identity, ema.get());
        points.wrote(run.best());
      }
    } catch (const DivergedWeights& e) {
      log.event("error", {{"kind", "non-finite weights"}, {"epoch", epoch + 1}, {"message", e.what()}});
      throw;
    }
    log.event("checkpoint", {{"epoch", epoch + 1}, {"last", run.last()}, {"best", best}});
    if (inv.stop_after_epoch > 0 && epoch + 1 == inv.stop_after_epoch && epoch + 1 < cfg.epochs) {
      log.line(strf("stopped after epoch %d as asked; continue with --resume %s", epoch + 1, run.dir.c_str()));
      return 0;
    }
  }

  if (!root) return 0;
  if (!have_eval) {  // resumed a finished run: report again
    last_eval = evaluate(*model, val_loader);
    if (ema) last_ema_eval = evaluate_ema(*model, *ema, val_loader);
  }
  // The report is of the model --select-by names: with ema, the average's predictions.
  if (by_ema) last_eval = last_ema_eval;
  const ValSummary vs = summarize_val(state.history);
  double seconds = 0;
  for (const EpochRecord& r : state.history) seconds += r.seconds;
  // With --ema, the same figures of the average, and the report is of the model --select-by names.
  History ema_history = state.history;
  for (EpochRecord& r : ema_history) r.val_acc = r.ema_val_acc;
  const ValSummary ema_vs = summarize_val(ema_history);
  const std::string ema_lines =
      ema ? "EMA " + val_summary_line(ema_history) + "\n" +
                (by_ema ? "the report below is of the EMA weights (--select-by ema)\n" : "")
          : "";
  const std::string heading =
      strf("%s, %d epochs, %dx%d, %zu train / %zu val images, %.0f s of training\n%s\n%s", identity.model.name.c_str(),
          cfg.epochs, cfg.img_size, cfg.img_size, split.train.size(), split.val.size(), seconds,
          val_summary_line(state.history).c_str(), ema_lines.c_str());
  nlohmann::json extra = {{"val_acc_avg", vs.avg}, {"val_acc_max", vs.max}, {"val_acc_max_epoch", vs.max_epoch},
                          {"best_epoch", state.best_epoch}, {"model", identity.model.name}, {"epochs", cfg.epochs},
                          {"img_size", cfg.img_size}, {"seconds", seconds},
                          {"seconds_per_epoch", state.history.empty() ? 0.0 : seconds / state.history.size()},
                          {"num_train", split.train.size()}, {"num_val", split.val.size()},
                          {"num_params", model->num_parameters()}, {"config", to_json(cfg)},
                          {"model_config", model_config_json(identity.model)},
                          {"epochs_run", state.history.size()}, {"select_by", by_ema ? "ema" : "raw"},
                          {"stop_reason", stop_reason.empty() ? "completed all epochs" : stop_reason}};
  if (ema)
    extra.update({{"ema_val_acc_avg", ema_vs.avg}, {"ema_val_acc_max", ema_vs.max},
                  {"ema_val_acc_max_epoch", ema_vs.max_epoch}});
  if (!init_source.empty()) extra["init_from"] = init_source;
  const std::string text = write_evaluation_files(run.dir, "", heading, dataset, last_eval, extra);
  points.wrote(run.file("report.json"));
  write_curves(run.dir, state.history);
  points.wrote(run.file("loss.svg"));
  log.line("\n" + text);
  write_explain_samples(run.dir, explain_sample_images(dataset, split, 2), log);  // for report.html
  write_report_page(run.dir, cfg.data, log);
  log.line("wrote " + run.dir + "/{report.html, report.txt, report.json, confusion.csv, confusion.svg, predictions.csv, "
           "metrics.csv, loss.svg, accuracy.svg}; checkpoints last.safetensors and best.safetensors (epoch " +
           std::to_string(state.best_epoch) + ")");
  log.event("end", {{"val_acc_avg", vs.avg}, {"val_acc_max", vs.max}, {"accuracy", last_eval.accuracy},
                    {"seconds", seconds}});
  return 0;
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
