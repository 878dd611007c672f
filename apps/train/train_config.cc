#include "apps/train/train_config.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad(const std::string& option, const std::string& why) {
  throw std::invalid_argument("--" + option + ": " + why);
}

template <class T>
std::string str(T v) {
  nlohmann::json j = v;
  return j.dump();
}

}  // namespace

void TrainConfig::validate() const {
  if (img_size < 32 || img_size > kMaxImgSize)
    bad("img-size", "must be at least 32 and at most " + str(kMaxImgSize) + ", got " + str(img_size));
  if (conv_algorithm != "fast" && conv_algorithm != "direct")
    bad("conv-algorithm", "must be fast or direct, got '" + conv_algorithm + "'");
  if (precision != "fp32" && precision != "bf16")
    bad("precision", "must be fp32 or bf16, got '" + precision + "'");
  try {
    model_config(1).validate();  // the model name and its options
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("model options: ") + e.what());
  }
  if (data.empty()) bad("data", "no data root given and the bundled data/orl_faces was not found");
  if (!fs::is_directory(data)) bad("data", "'" + data + "' is not a folder");
  if (!(val_fraction > 0 && val_fraction < 1)) bad("val-fraction", "must be in (0, 1), got " + str(val_fraction));
  if (workers < 0 || workers > kMaxWorkers) bad("workers", "must be 0 to " + str(kMaxWorkers) + ", got " + str(workers));
  if (epochs < 1) bad("epochs", "must be at least 1, got " + str(epochs));
  if (batch_size < 1 || batch_size > kMaxBatchSize)
    bad("batch-size", "must be at least 1 and at most " + str(kMaxBatchSize) + ", got " + str(batch_size));
  if (eval_batch_size < 1 || eval_batch_size > kMaxBatchSize)
    bad("eval-batch-size", "must be at least 1 and at most " + str(kMaxBatchSize) + ", got " + str(eval_batch_size));
  if (opt != "sgd" && opt != "adamw") bad("opt", "must be sgd or adamw, got '" + opt + "'");
  if (!(lr > 0 && std::isfinite(lr))) bad("lr", "must be positive, got " + str(lr));
  if (!(momentum >= 0 && momentum < 1)) bad("momentum", "must be in [0, 1), got " + str(momentum));
  if (!(weight_decay >= 0 && std::isfinite(weight_decay)))
    bad("weight-decay", "must be >= 0, got " + str(weight_decay));
  if (sched != "cosine" && sched != "step" && sched != "constant" && sched != "plateau")
    bad("sched", "must be cosine, step, constant or plateau, got '" + sched + "'");
  if (!(alpha >= 0 && alpha <= 1)) bad("alpha", "must be in [0, 1], got " + str(alpha));
  if (step_size < 1) bad("step-size", "must be at least 1 epoch, got " + str(step_size));
  if (!(gamma > 0 && gamma <= 1)) bad("gamma", "must be in (0, 1], got " + str(gamma));
  if (warmup_steps < 0) bad("warmup-steps", "must be >= 0, got " + str(warmup_steps));
  if (!(plateau_factor > 0 && plateau_factor < 1))
    bad("plateau-factor", "must be in (0, 1), got " + str(plateau_factor));
  if (plateau_patience < 0) bad("plateau-patience", "must be >= 0, got " + str(plateau_patience));
  if (!(plateau_min_lr >= 0 && std::isfinite(plateau_min_lr)))
    bad("plateau-min-lr", "must be 0 or more, got " + str(plateau_min_lr));
  if (!(label_smoothing >= 0 && label_smoothing < 1))
    bad("label-smoothing", "must be in [0, 1), got " + str(label_smoothing));
  if (!(clip_grad >= 0 && std::isfinite(clip_grad)))
    bad("clip-grad", "must be 0 (off) or a positive bound, got " + str(clip_grad));
  if (clip_mode != "norm" && clip_mode != "value")
    bad("clip-mode", "must be norm or value, got '" + clip_mode + "'");
  if (patience < 0) bad("patience", "must be 0 (off) or a number of epochs, got " + std::to_string(patience));
  if (!(min_delta >= 0 && std::isfinite(min_delta))) bad("min-delta", "must be 0 or more, got " + str(min_delta));
  if (monitor != "val_loss" && monitor != "val_acc")
    bad("monitor", "must be val_loss or val_acc, got '" + monitor + "'");
  if (accum_steps < 1 || accum_steps > kMaxBatchSize)
    bad("accum-steps", "must be at least 1 and at most " + str(kMaxBatchSize) + ", got " + str(accum_steps));
  if (!(ema >= 0 && ema < 1)) bad("ema", "must be 0 (off) or a decay in (0, 1), got " + str(ema));
  if (select_by != "raw" && select_by != "ema") bad("select-by", "must be raw or ema, got '" + select_by + "'");
  if (select_by == "ema" && ema == 0) bad("select-by", "ema needs --ema DECAY (the moving average is off)");
  if (freeze_epochs < 0) bad("freeze-epochs", "must be 0 (off) or a number of epochs, got " + std::to_string(freeze_epochs));
  if (!(lr_pretrained_mult >= 0 && std::isfinite(lr_pretrained_mult)))
    bad("lr-pretrained-mult", "must be 0 or more, got " + str(lr_pretrained_mult));
  if (!(center_crop > 0 && center_crop <= 1)) bad("center-crop", "must be in (0, 1], got " + str(center_crop));
  if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1))
    bad("scale-min", "need 0 < scale-min <= scale-max <= 1, got " + str(scale_min) + " and " + str(scale_max));
  if (!(hflip >= 0 && hflip <= 1)) bad("hflip", "must be a probability in [0, 1], got " + str(hflip));
  if (!(erase >= 0 && erase <= 1)) bad("erase", "must be a probability in [0, 1], got " + str(erase));
  if (color_jitter.size() != 0 && color_jitter.size() != 1 && color_jitter.size() != 3)
    bad("color-jitter", "takes one strength S or three, B,C,S (brightness, contrast, saturation); got " +
                            std::to_string(color_jitter.size()) + " numbers");
  for (double v : color_jitter)
    if (!(v >= 0 && std::isfinite(v))) bad("color-jitter", "strengths must be >= 0, got " + str(v));
  if (!(mixup >= 0 && std::isfinite(mixup))) bad("mixup", "must be 0 (off) or a positive Beta alpha, got " + str(mixup));
  if (!(cutmix >= 0 && std::isfinite(cutmix)))
    bad("cutmix", "must be 0 (off) or a positive Beta alpha, got " + str(cutmix));
  if (!(mix_prob >= 0 && mix_prob <= 1)) bad("mix-prob", "must be a probability in [0, 1], got " + str(mix_prob));
  if (!(mix_switch_prob >= 0 && mix_switch_prob <= 1))
    bad("mix-switch-prob", "must be a probability in [0, 1], got " + str(mix_switch_prob));
  if (threads < 0) bad("threads", "must be >= 0 (0: all cores), got " + str(threads));
  if (limit_batches < 0) bad("limit-batches", "must be >= 0 (0: no limit), got " + str(limit_batches));
  if (log_interval < 1) bad("log-interval", "must be at least 1, got " + str(log_interval));

}

models::ModelConfig TrainConfig::model_config(int num_classes) const {
  models::ModelConfig m = model;
  m.num_classes = num_classes;
  m.height = m.width = img_size;
  m.precision = ops::parse_precision(precision);
  m.conv_algorithm = ops::parse_conv2d_algorithm(conv_algorithm);
  m.attention_device = ops::parse_device(attention_device);
  return m;
}

data::TransformConfig TrainConfig::train_transform() const {
  if (!augment) {
    // The evaluation geometry: no random draws at all.
    return data::eval_transform_config(img_size, center_crop);
  }
  data::TransformConfig t = data::train_transform_config(img_size, center_crop);
  t.scale_min = scale_min;
  t.scale_max = scale_max;
  t.hflip_p = hflip;
  t.erase_p = erase;
  if (!color_jitter.empty()) {
    const bool one = color_jitter.size() == 1;
    t.color_jitter.brightness = color_jitter[0];
    t.color_jitter.contrast = one ? color_jitter[0] : color_jitter[1];
    t.color_jitter.saturation = one ? color_jitter[0] : color_jitter[2];
  }
  return t;
}

data::MixConfig TrainConfig::mix() const {
  data::MixConfig m;
  if (!augment) return m;  // --no-augment: training images as validation's, unmixed
  m.mixup_alpha = mixup;
  m.cutmix_alpha = cutmix;
  m.prob = mix_prob;
  m.switch_prob = mix_switch_prob;
  return m;
}

data::TransformConfig TrainConfig::eval_transform() const {
  return data::eval_transform_config(img_size, center_crop);
}

nn::ScheduleOptions TrainConfig::schedule() const {
  nn::ScheduleOptions s;
  s.kind = sched;
  s.base_lr = static_cast<float>(lr);
  s.alpha = static_cast<float>(alpha);
  s.step_size = step_size;
  s.gamma = static_cast<float>(gamma);
  s.warmup_steps = warmup_steps;
  return s;
}

nlohmann::json to_json(const TrainConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  for_each_field(c, [&](const char* key, const auto& v) { j[key] = v; });
  return j;
}

void apply_json(const nlohmann::json& j, TrainConfig& c, const std::string& source) {
  if (!j.is_object()) throw std::invalid_argument(source + ": a configuration must be a JSON object");
  std::set<std::string> known;
  for_each_field(c, [&](const char* key, auto& v) {
    known.insert(key);
    auto it = j.find(key);
    if (it == j.end()) return;
    try {
      it->get_to(v);
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument(source + ": '" + key + "' has the wrong type (" + it->dump() + ")");
    }
  });
  for (const auto& [key, value] : j.items())
    if (!known.count(key)) throw std::invalid_argument(source + ": unknown option '" + key + "'");
}

nlohmann::json model_config_json(const models::ModelConfig& m) {
  return {{"name", m.name},           {"num_classes", m.num_classes},
          {"height", m.height},       {"width", m.width},
          {"attention", m.attention}, {"window", m.window},
          {"attention_stages", m.attention_stages},
          {"heads", m.heads},         {"width_mult", m.width_mult},
          {"blocks", m.blocks}};
}

models::ModelConfig model_config_from_json(const nlohmann::json& j) {
  models::ModelConfig m;
  m.name = j.at("name").get<std::string>();
  m.num_classes = j.at("num_classes").get<int>();
  m.height = j.at("height").get<int>();
  m.width = j.at("width").get<int>();
  m.attention = j.at("attention").get<std::string>();
  m.window = j.at("window").get<int>();
  m.attention_stages = j.at("attention_stages").get<std::vector<int>>();
  m.heads = j.at("heads").get<int>();
  m.width_mult = j.at("width_mult").get<double>();
  m.blocks = j.at("blocks").get<std::vector<int>>();
  return m;
}

std::string default_data_root() {
  if (fs::is_directory("data/orl_faces")) return "data/orl_faces";
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // build/bin/cpu_train: the source tree is two levels up.
    fs::path dir = exe.parent_path();
    for (int up = 0; up < 3 && !dir.empty(); ++up, dir = dir.parent_path())
      if (fs::is_directory(dir / "data" / "orl_faces")) return (dir / "data" / "orl_faces").string();
  }
  return "";
}

}  // namespace hsanet::train
