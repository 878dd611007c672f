#include "apps/train/checkpoint.h"

#include <stdexcept>

namespace hsanet::train {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

const std::string& meta(const io::SafeTensorsFile& f, const std::string& key, const std::string& source) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end())
    throw std::runtime_error(source + ": not a training checkpoint (no '" + key + "' in its metadata)");
  return it->second;
}

bool is_side_entry(const std::string& name) {
  return starts_with(name, kOptimizerPrefix) || starts_with(name, kEmaPrefix) || starts_with(name, kRawPrefix);
}

// The file's tensors named `prefix`<name>, renamed <name>; with an empty prefix, the model's own.
io::SafeTensorsFile part(const io::SafeTensorsFile& file, const std::string& prefix) {
  io::SafeTensorsFile p;
  p.metadata = file.metadata;
  for (const auto& [name, record] : file.tensors) {
    if (prefix.empty() ? is_side_entry(name) : !starts_with(name, prefix)) continue;
    p.tensors.emplace(name.substr(prefix.size()), record);
  }
  return p;
}

bool holds_ema_as_model(const io::SafeTensorsFile& file) {
  auto it = file.metadata.find("model_weights");
  return it != file.metadata.end() && it->second == "ema";
}

}  // namespace

void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const nn::Optimizer& optimizer, const TrainingState& state,
                              const RunIdentity& run, const nn::ModelEma* ema) {
  const bool ema_as_model = ema && run.config.select_by == "ema";
  io::StateDict dict;
  for (const auto& [name, t] : ema_as_model ? ema->state() : model.state_dict()) dict.emplace_back(name, t);
  if (ema_as_model)
    for (const auto& [name, t] : model.state_dict()) dict.emplace_back(kRawPrefix + name, t);
  else if (ema)
    for (const auto& [name, t] : ema->state()) dict.emplace_back(kEmaPrefix + name, t);
  for (auto& [name, t] : optimizer.state()) dict.emplace_back(kOptimizerPrefix + name, t);
  nlohmann::json schedule = {{"kind", run.config.sched},       {"base_lr", run.config.lr},
                             {"alpha", run.config.alpha},      {"step_size", run.config.step_size},
                             {"gamma", run.config.gamma},      {"warmup_steps", run.config.warmup_steps},
                             {"epochs", run.config.epochs}};
  io::Metadata m{
      {"format", kCheckpointFormat},
      {"epoch", std::to_string(state.epoch)},
      {"global_step", std::to_string(state.global_step)},
      {"best_val_acc", nlohmann::json(state.best_val_acc).dump()},
      {"best_epoch", std::to_string(state.best_epoch)},
      {"history", history_to_json(state.history).dump()},
      {"config", to_json(run.config).dump()},
      {"model_config", model_config_json(run.model).dump()},
      {"classes", nlohmann::json(run.classes).dump()},
      {"schedule", schedule.dump()},
      {"optimizer", run.config.opt},
      {"seed", std::to_string(run.config.seed)},
      {"rng", "data order and augmentation: Rng::derive(seed, epoch, sample); weights: build_model(config, seed)"},
      {"model_weights", ema_as_model ? "ema" : "raw"},
  };
  io::save_state_dict(path, dict, m);
}

bool is_training_checkpoint(const io::SafeTensorsFile& file) {
  auto it = file.metadata.find("format");
  return it != file.metadata.end() && it->second == kCheckpointFormat;
}

RunIdentity read_run_identity(const io::SafeTensorsFile& file, const std::string& source) {
  if (!is_training_checkpoint(file))
    throw std::runtime_error(source + ": not a training checkpoint of this program (metadata 'format' is not " +
                             std::string(kCheckpointFormat) + ")");
  RunIdentity run;
  try {
    apply_json(nlohmann::json::parse(meta(file, "config", source)), run.config, source);
    run.model = model_config_from_json(nlohmann::json::parse(meta(file, "model_config", source)));
    run.classes = nlohmann::json::parse(meta(file, "classes", source)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + ": unreadable checkpoint metadata (" + e.what() + ")");
  }
  if (static_cast<int>(run.classes.size()) != run.model.num_classes)
    throw std::runtime_error(source + ": the class list and the model's head disagree");
  return run;
}

void validate_weights_file(const io::SafeTensorsFile& file, const std::string& source) {
  io::require_finite_tensors(file, source);
  if (is_training_checkpoint(file)) {
    (void)read_training_state(file, source);
    (void)read_run_identity(file, source);
  }
}

io::LoadReport load_model_weights(const io::SafeTensorsFile& file, const std::string& source,
                              const nn::Module& model, bool strict) {
  return io::load_state_dict(part(file, ""), source, model.state_dict(), strict);
}

TrainingState read_training_state(const io::SafeTensorsFile& file, const std::string& path) {
  if (!is_training_checkpoint(file))
    throw std::runtime_error(path + ": not a training checkpoint of this program");
  TrainingState s;
  try {
    s.epoch = std::stoi(meta(file, "epoch", path));
    s.global_step = std::stoll(meta(file, "global_step", path));
    s.best_val_acc = nlohmann::json::parse(meta(file, "best_val_acc", path)).get<double>();
    s.best_epoch = std::stoi(meta(file, "best_epoch", path));
    s.history = history_from_json(nlohmann::json::parse(meta(file, "history", path)));
  } catch (const std::runtime_error&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": unreadable checkpoint metadata (" + e.what() + ")");
  }
  if (static_cast<int>(s.history.size()) != s.epoch)
    throw std::runtime_error(path + ": metadata says " + std::to_string(s.epoch) + " epochs but holds " +
                             std::to_string(s.history.size()) + " epoch records");
  return s;
}

namespace {

// After a step, SGD with momentum keeps one buffer per parameter and AdamW two: a checkpoint that
// lacks them would restart the momentum silently, so it is refused, naming the first missing.
void require_optimizer_buffers(const io::SafeTensorsFile& file, const std::string& path, const TrainingState& s,
                               const nn::Optimizer& optimizer) {
  if (s.global_step == 0) return;
  const TrainConfig config = read_run_identity(file, path).config;
  // --freeze-epochs: the frozen parameters took no step yet, so they have no buffers to save.
  if (s.epoch <= config.freeze_epochs) return;
  std::vector<std::string> kinds;
  if (config.opt == "adamw") kinds = {"exp_avg.", "exp_avg_sq."};
  else if (config.momentum > 0) kinds = {"momentum_buffer."};
  int missing = 0;
  std::string first;
  for (const auto& [param, tensor] : optimizer.params())
    for (const std::string& kind : kinds)
      if (!file.contains(kOptimizerPrefix + kind + param) && missing++ == 0) first = kOptimizerPrefix + kind + param;
  if (missing > 0)
    throw std::runtime_error(path + ": no optimiser state for " + std::to_string(missing) + " tensors (e.g. '" + first +
                             "') after " + std::to_string(s.global_step) + " steps; continuing would restart their " +
                             (config.opt == "adamw" ? "moments" : "momentum") + " from zero, so the run is not resumed");
}

}  // namespace

TrainingState load_training_checkpoint(const io::SafeTensorsFile& file, const std::string& path, nn::Module& model,
                                       nn::Optimizer& optimizer, nn::ModelEma* ema) {
  // Everything is checked before anything is loaded.
  TrainingState s = read_training_state(file, path);
  io::require_finite_tensors(file, path);
  require_optimizer_buffers(file, path, s, optimizer);
  const bool ema_as_model = holds_ema_as_model(file);
  const io::SafeTensorsFile raw = part(file, ema_as_model ? kRawPrefix : ""),
                        average = part(file, ema_as_model ? "" : kEmaPrefix);
  io::load_state_dict(raw, path, model.state_dict(), /*strict=*/true);
  if (ema) {
    if (average.tensors.empty()) {
      ema->load(model.state_dict());  // no average saved: it starts from the model, as timm's
    } else {
      nn::NamedTensors tensors;
      for (const auto& [name, record] : average.tensors) tensors.emplace_back(name, record.to_float_tensor());
      try {
        ema->load(tensors);
      } catch (const std::exception& e) {
        throw std::runtime_error(path + ": the EMA weights do not fit the model (" + e.what() + ")");
      }
    }
  }

  nn::NamedTensors opt_state;
  for (const auto& [name, record] : file.tensors)
    if (starts_with(name, kOptimizerPrefix))
      opt_state.emplace_back(name.substr(std::string(kOptimizerPrefix).size()), record.to_float_tensor());
  try {
    optimizer.load_state(opt_state);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": optimiser state does not fit (" + e.what() +
                             "); was the run started with another --opt?");
  }
  return s;
}

TrainingState load_training_checkpoint(const std::string& path, nn::Module& model, nn::Optimizer& optimizer,
                                       nn::ModelEma* ema) {
  return load_training_checkpoint(io::read_safetensors(path), path, model, optimizer, ema);
}

std::string describe_weight_load(const io::LoadReport& r, const std::string& source) {
  std::string s = source + ": loaded " + std::to_string(r.loaded.size()) + " tensors";
  if (r.complete()) return s + "; every tensor of the model matched\n";
  s += "; not loaded:\n" + r.summary();
  bool only_head = r.unexpected.empty();
  for (const auto& n : r.missing) only_head &= starts_with(n, "fc.");
  for (const auto& w : r.wrong_shape) only_head &= starts_with(w.name, "fc.");
  if (only_head) {
    std::string note = "note: the classifier head (fc.*) keeps its fresh initialisation";
    for (const auto& w : r.wrong_shape)
      if (w.name == "fc.weight" && w.found.size() == 2 && w.expected.size() == 2)
        note += ": the file has " + std::to_string(w.found[0]) + " classes, this run " +
                std::to_string(w.expected[0]);
    s += note + "\n";
  }
  return s;
}

}  // namespace hsanet::train
