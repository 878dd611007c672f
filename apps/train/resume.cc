#include "apps/train/resume.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "io/atomic_file.h"

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

struct Readable {
  std::optional<io::SafeTensorsFile> file;
  std::string problem;  // why it could not be read, when it exists
};

Readable try_read(const std::string& path) {
  Readable r;
  if (!fs::exists(path)) return r;
  try {
    r.file = io::read_safetensors(path);
    (void)read_training_state(*r.file, path);
  } catch (const std::exception& e) {
    r.file.reset();
    r.problem = e.what();
  }
  return r;
}

void copy_file_atomically(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read '" + from + "'");
  io::write_file_atomically(to, bytes);
}

}  // namespace

Restored restore_run(const RunFiles& run, nn::Module& model, nn::Optimizer& optimizer, WritePoints& points,
                     bool repair, nn::ModelEma* ema) {
  Restored r;
  Readable last = try_read(run.last()), best = try_read(run.best());
  if (last.file) {
    r.source = run.last();
  } else if (best.file) {
    r.source = run.best();
    r.notes += (last.problem.empty() ? "note: no last.safetensors (the previous process stopped between writes)"
                                     : "note: last.safetensors is unusable: " + last.problem) +
               "; continuing from best.safetensors, so the epochs after it are trained again\n";
  } else if (!last.problem.empty() || !best.problem.empty()) {
    throw std::runtime_error("--resume: no usable checkpoint in '" + run.dir + "': " +
                             (last.problem.empty() ? best.problem : last.problem));
  } else {
    r.notes += "note: '" + run.dir + "' has no checkpoint (no epoch was completed); starting again from epoch 1\n";
    return r;
  }
  const io::SafeTensorsFile& file = r.source == run.last() ? *last.file : *best.file;
  r.state = load_training_checkpoint(file, r.source, model, optimizer, ema);
  if (r.source != run.last()) return r;

  // last is the newest state; reconcile best with it.
  std::optional<TrainingState> best_state;
  if (best.file) best_state = read_training_state(*best.file, run.best());
  TrainingState& s = r.state;
  if (s.best_epoch == s.epoch && s.epoch > 0 && (!best_state || best_state->epoch < s.epoch)) {
    if (!repair) return r;
    copy_file_atomically(run.last(), run.best());
    points.wrote(run.best());
    r.notes += "note: best.safetensors lagged behind last.safetensors (the previous process stopped between "
               "writing them); brought it up to epoch " + std::to_string(s.epoch) + "\n";
  } else if (best_state && best_state->best_val_acc > s.best_val_acc) {
    r.notes += "note: best.safetensors (epoch " + std::to_string(best_state->best_epoch) + ", validation accuracy " +
               std::to_string(best_state->best_val_acc) + ") is better than last.safetensors knows; it stays the "
               "one to beat\n";
    s.best_val_acc = best_state->best_val_acc;
    s.best_epoch = best_state->best_epoch;
  }
  return r;
}

}  // namespace hsanet::train
