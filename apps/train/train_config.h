// TrainConfig: everything that decides what a training run computes, in one struct.
//
// The same names serve three places: the command-line flags (--batch-size), the JSON config file
// a user may pass with --config, and RUN/config.json, the resolved configuration a run writes at
// its start and that --resume reads back. for_each_field() lists the fields once, so the three
// cannot drift apart.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/mix.h"
#include "data/transforms.h"
#include "models/model_config.h"
#include "nn/schedule.h"

namespace hsanet::train {

// Upper bounds of the size options, stated in --help: beyond them a run cannot be meant (the
// paper's inputs are 224; the loader counts in int) and would end in an allocation failure.
inline constexpr int kMaxImgSize = 1024;
inline constexpr int kMaxBatchSize = 65536;
inline constexpr int kMaxWorkers = 64;

struct TrainConfig {
  // ---- data ----
  std::string data;           // image-folder root; empty: the bundled ORL faces
  double val_fraction = 0.2;  // per class, the share of images held out for validation
  bool skip_bad = false;      // drop unreadable images with a warning instead of refusing
  int workers = 1;            // data-loading threads (std::thread, apart from --threads)

  // ---- model ----
  // name, attention, window, attention_stages, heads, width_mult, blocks. num_classes, height
  // and width are not options: they follow from the data set and img_size.
  models::ModelConfig model;
  int img_size = 224;  // square input side

  // ---- optimisation (the paper's recipe by default) ----
  int epochs = 50;
  int batch_size = 4;
  int eval_batch_size = 32;
  std::string opt = "sgd";      // sgd | adamw
  double lr = 0.005;
  double momentum = 0.9;        // SGD only
  double weight_decay = 1e-4;   // SGD: L2 on the gradient; AdamW: decoupled
  std::string sched = "cosine";  // cosine | step | constant | plateau
  double alpha = 0.25;           // cosine: the last epoch runs at alpha * lr
  int step_size = 10;            // step: lr *= gamma every step_size epochs
  double gamma = 0.1;
  int warmup_steps = 0;          // linear warm-up over the first optimiser steps
  double plateau_factor = 0.1;   // plateau: lr *= factor once --monitor stalls (ReduceLROnPlateau)
  int plateau_patience = 10;     // plateau: epochs without improvement tolerated before a cut
  double plateau_min_lr = 0.0;   // plateau: the lr is never cut below this
  double label_smoothing = 0.0;
  double clip_grad = 0.0;          // 0: off; else the bound of --clip-mode, applied before each step
  std::string clip_mode = "norm";  // norm: global L2 norm (clip_grad_norm_) | value: each element
  int patience = 0;                // early stopping: epochs without improvement (0: off)
  double min_delta = 0.0;          // the improvement that counts
  std::string monitor = "val_loss";  // val_loss | val_acc
  int accum_steps = 1;             // batches whose gradients are summed (each loss / K) per update
  double ema = 0.0;                // 0: off; else the decay of the weights' moving average
  bool ema_warmup = true;          // decay = min(ema, (1 + step) / (10 + step))
  std::string select_by = "raw";   // raw | ema: whose validation score picks best and is monitored
  // ---- fine-tuning (with --init-from; docs/finetuning.md) ----
  int freeze_epochs = 0;            // the first N epochs train only the tensors --init-from did not load
  double lr_pretrained_mult = 1.0;  // the loaded parameters' lr is lr x this (a second parameter group)
  bool freeze_bn = false;           // loaded batch norms normalise with their loaded statistics, kept

  // ---- augmentation (training images only) ----
  double center_crop = 1.0;   // keep the central fraction of each side first (train and eval)
  bool augment = true;        // false: training images take the evaluation path
  double scale_min = 0.6, scale_max = 1.0;  // random resized crop: area fraction
  double hflip = 0.5;         // horizontal flip probability
  double erase = 0.5;         // random erasing probability
  std::vector<double> color_jitter;  // [] off; [s]: brightness = contrast = saturation = s; [b, c, s]
  double mixup = 0.0;         // > 0: mixup of each batch, lambda ~ Beta(mixup, mixup)
  double cutmix = 0.0;        // > 0: cutmix of each batch, lambda ~ Beta(cutmix, cutmix)
  double mix_prob = 1.0;      // probability that a batch is mixed at all
  double mix_switch_prob = 0.5;  // mixup and cutmix both on: probability of cutmix for a batch

  // ---- run ----
  uint64_t seed = 1;        // weights, split, shuffling and augmentation
  int threads = 0;          // compute threads; 0: all cores
  std::string attention_device = "cpu";  // where the attention core runs: cpu | cuda
  std::string conv_algorithm = "fast";   // 3x3 convolutions: fast (Winograd where it pays) | direct
  std::string precision = "fp32";        // fp32 | bf16 (mixed precision, docs/precision.md)
  int limit_batches = 0;    // quick mode: at most this many training batches per epoch (0: all)
  int log_interval = 20;    // batches between plain progress lines (not on a terminal)

  // Throws std::invalid_argument naming the option and the bad value. Checks that the data
  // root exists, not what is in it.
  void validate() const;

  // The model to build for `num_classes` classes at img_size.
  models::ModelConfig model_config(int num_classes) const;
  data::TransformConfig train_transform() const;
  data::TransformConfig eval_transform() const;
  data::MixConfig mix() const;  // off unless augment and mixup or cutmix > 0
  nn::ScheduleOptions schedule() const;
};

// Calls f(key, field) for every field above, key being the flag's name without "--".
template <class Config, class F>
void for_each_field(Config& c, F&& f) {
  f("data", c.data);
  f("val-fraction", c.val_fraction);
  f("skip-bad", c.skip_bad);
  f("workers", c.workers);
  f("model", c.model.name);
  f("attention", c.model.attention);
  f("window", c.model.window);
  f("attention-stages", c.model.attention_stages);
  f("heads", c.model.heads);
  f("width-mult", c.model.width_mult);
  f("blocks", c.model.blocks);
  f("img-size", c.img_size);
  f("epochs", c.epochs);
  f("batch-size", c.batch_size);
  f("eval-batch-size", c.eval_batch_size);
  f("opt", c.opt);
  f("lr", c.lr);
  f("momentum", c.momentum);
  f("weight-decay", c.weight_decay);
  f("sched", c.sched);
  f("alpha", c.alpha);
  f("step-size", c.step_size);
  f("gamma", c.gamma);
  f("warmup-steps", c.warmup_steps);
  f("plateau-factor", c.plateau_factor);
  f("plateau-patience", c.plateau_patience);
  f("plateau-min-lr", c.plateau_min_lr);
  f("label-smoothing", c.label_smoothing);
  f("clip-grad", c.clip_grad);
  f("clip-mode", c.clip_mode);
  f("patience", c.patience);
  f("min-delta", c.min_delta);
  f("monitor", c.monitor);
  f("accum-steps", c.accum_steps);
  f("ema", c.ema);
  f("ema-warmup", c.ema_warmup);
  f("select-by", c.select_by);
  f("freeze-epochs", c.freeze_epochs);
  f("lr-pretrained-mult", c.lr_pretrained_mult);
  f("freeze-bn", c.freeze_bn);
  f("center-crop", c.center_crop);
  f("augment", c.augment);
  f("scale-min", c.scale_min);
  f("scale-max", c.scale_max);
  f("hflip", c.hflip);
  f("erase", c.erase);
  f("color-jitter", c.color_jitter);
  f("mixup", c.mixup);
  f("cutmix", c.cutmix);
  f("mix-prob", c.mix_prob);
  f("mix-switch-prob", c.mix_switch_prob);
  f("seed", c.seed);
  f("threads", c.threads);
  f("conv-algorithm", c.conv_algorithm);
  f("precision", c.precision);
  f("limit-batches", c.limit_batches);
  f("log-interval", c.log_interval);
}

nlohmann::json to_json(const TrainConfig& c);
// Sets the fields `j` names and leaves the others as they are. Throws std::invalid_argument for
// an unknown key or a value of the wrong type; `source` names the file in the message.
void apply_json(const nlohmann::json& j, TrainConfig& c, const std::string& source);

nlohmann::json model_config_json(const models::ModelConfig& m);
models::ModelConfig model_config_from_json(const nlohmann::json& j);

// The bundled ORL faces: data/orl_faces under the working directory, else found from the
// program's own location (build/bin/ -> ../../data/orl_faces). Empty when neither exists.
std::string default_data_root();

}  // namespace hsanet::train
