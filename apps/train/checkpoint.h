// Training checkpoints: one safetensors file holds everything a run needs to continue.
//
//   <name>                  the model's parameters and buffers under their contract names, so
//                           the file also serves as plain weights (--init-from, hsanet run)
//   optimizer.<name>        the optimiser's state: "optimizer.step", momentum or Adam moments
//   ema.<name>              with --ema: the moving average of every model tensor
//   raw.<name>              with --select-by ema: the trained model itself, while the contract
//                           names hold the average (metadata model_weights "ema"), so that
//                           predict, evaluate and --init-from use the weights the run chose
//   __metadata__            format, epoch (completed), global_step, best_val_acc, best_epoch,
//                           history (per-epoch records, JSON), config (the run's TrainConfig,
//                           JSON), model_config, classes, schedule, optimizer, seed, rng,
//                           model_weights ("raw" or "ema": what the contract names hold)
//
// The data order and every augmentation are drawn from Rng::derive(seed, epoch, sample), so the
// seed and the epoch are the whole random state: nothing else needs saving to resume exactly.
// Files are written with save_state_dict: crash-safe, and refused when any value is not finite.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/train/history.h"
#include "apps/train/train_config.h"
#include "io/checkpoint_io.h"
#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optimizer.h"

namespace hsanet::train {

inline constexpr const char* kCheckpointFormat = "hsanet.train.v1";
inline constexpr const char* kOptimizerPrefix = "optimizer.";
inline constexpr const char* kEmaPrefix = "ema.";
inline constexpr const char* kRawPrefix = "raw.";

// Where a run stands after a completed epoch.
struct TrainingState {
  int epoch = 0;               // completed epochs
  long long global_step = 0;   // optimiser steps taken
  double best_val_acc = -1;    // best validation accuracy so far (-1: none yet)
  int best_epoch = 0;          // the epoch (1-based) that reached it
  History history;             // one record per completed epoch
};

// What the checkpoint says about the run that wrote it (fixed for the whole run).
struct RunIdentity {
  TrainConfig config;
  models::ModelConfig model;
  std::vector<std::string> classes;  // class index -> identity name
};

// `ema` (may be null): the moving average, stored as the header says; run.config.select_by
// decides which of the two the contract names hold.
void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const nn::Optimizer& optimizer, const TrainingState& state,
                              const RunIdentity& run, const nn::ModelEma* ema = nullptr);

// Restores the model (strictly: every tensor must be there with its shape) and the optimiser
// state, and returns the state. Throws std::runtime_error naming the file for anything missing
// (optimiser buffers after a step included) and std::domain_error for a NaN or an infinity; all
// of it is checked before anything is loaded. `ema` (may be null) gets the file's average, or a
// copy of the loaded model when the file has none (a run that turned --ema on when resumed).
TrainingState load_training_checkpoint(const std::string& path, nn::Module& model,
                                       nn::Optimizer& optimizer, nn::ModelEma* ema = nullptr);
TrainingState load_training_checkpoint(const io::SafeTensorsFile& file, const std::string& path, nn::Module& model,
                                       nn::Optimizer& optimizer, nn::ModelEma* ema = nullptr);

// The state in a checkpoint's metadata alone (nothing is loaded); throws as above.
TrainingState read_training_state(const io::SafeTensorsFile& file, const std::string& path);

// The run identity stored in a checkpoint's metadata; throws when the file is not one of ours.
RunIdentity read_run_identity(const io::SafeTensorsFile& file, const std::string& source);
bool is_training_checkpoint(const io::SafeTensorsFile& file);

// Checks a weights file for --init-from before anything is loaded: every floating-point tensor
// finite (optimiser state included), and a training checkpoint's metadata readable. Throws
// std::runtime_error or std::domain_error naming the file and the tensor or key.
void validate_weights_file(const io::SafeTensorsFile& file, const std::string& source);

// Loads the model's tensors from a weights file, ignoring optimizer.*, ema.* and raw.* entries
// (so a training checkpoint and a plain export both work). Strict or not, as load_state_dict.
io::LoadReport load_model_weights(const io::SafeTensorsFile& file, const std::string& source,
                              const nn::Module& model, bool strict);

// A human-readable account of a non-strict load, with a note on the classifier head when only
// fc.* failed (the usual fine-tuning case: a 1000-class export into a 26-class head).
std::string describe_weight_load(const io::LoadReport& report, const std::string& source);

}  // namespace hsanet::train
