// cpu_train's command line: flags, a JSON config file they override, and --resume.
//
// Precedence, lowest first: built-in defaults (the paper's recipe), --config FILE, then the flags.
// With --resume RUN the base is the configuration in RUN's checkpoint (resume_config.h), and only
// keys that cannot change what the run computes (resume_safe_keys) may differ from it, by flag or
// by an edited config.json, unless --allow-change names the key: changing the batch size half-way
// makes the resumed run a different run, and that must be asked for and logged.
#pragma once

#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "apps/train/train_config.h"
#include "nn/distributed.h"

namespace hsanet::train {

struct TrainInvocation {
  TrainConfig cfg;            // resolved
  std::string out;            // run directory
  std::string resume;         // run directory to continue; empty for a new run
  std::string init_from;      // weights to start from (non-strict), e.g. a torchvision export
  std::string config_file;    // --config, if any
  bool evaluate_only = false; // --evaluate: report on the validation split, no training
  bool overwrite = false;     // --overwrite: a new run may write into a non-empty directory
  bool out_is_default = false;  // no --out: the run claims a fresh runs/<model>-<date>-<time>[-k]
  // Hidden, for tests of the resume and divergence paths:
  int stop_after_epoch = 0;       // end the process cleanly after this epoch (as if killed)
  long long fault_nan_step = -1;  // treat the loss of this global step as NaN
  int stop_after_write = 0;       // stop right after the run's N-th durable write (write_points.h)
  std::vector<std::string> given;  // config keys set by flags on this command line
  std::vector<std::string> allow_change;    // --allow-change: keys a resumed run may change
  std::vector<std::string> config_changes;  // the changes a resume makes (resume_config.h), for the log
  // Data-parallel training (docs/distributed.md); the flags exist only in a build with MPI.
  bool sync_bn = false;            // --sync-bn: batch-norm statistics over the global batch
  double bucket_mb = 25;           // --bucket-mb: gradient all-reduce bucket size
  bool overlap = true;             // --no-overlap: sum gradients only after the whole backward
  nn::Communicator* comm = nullptr;  // the job's world; null: one process (or MPI when launched by mpirun)
};

// Keys a resumed run may change.
const std::set<std::string>& resume_safe_keys();

struct ParseResult {
  bool proceed = false;  // false: stop now and return `code` (help printed, or an error)
  int code = 0;          // 0 after --help, 2 for a bad command line
  TrainInvocation inv;
};

// Parses and validates everything that can be checked without touching the data; errors are
// written to `err` as one clear message and give code 2.
ParseResult parse_train_command_line(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err);

}  // namespace hsanet::train
