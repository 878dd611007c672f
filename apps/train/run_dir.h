// Where a run may write. A new run never takes over a directory that holds something else, an
// unwritable --out is reported before any image is read, and default run names are claimed with
// an atomic mkdir, so two runs started in the same second get different directories.
#pragma once

#include <string>

namespace hsanet::train {

// What a directory holds, as far as starting or resuming a run is concerned.
struct RunDirContents {
  bool exists = false;
  bool empty = true;             // no entries but the temporary files of killed writers (true when it does not exist)
  bool has_config = false;       // config.json: a run was started here
  bool has_checkpoint = false;   // last.safetensors or best.safetensors: an epoch was completed
};
RunDirContents inspect_run_dir(const std::string& dir);

// A new run in `dir`: refuses (std::runtime_error naming the directory and what it holds) a
// directory that holds a run (continue it with --resume) or anything else, unless `overwrite`;
// even then a directory with checkpoints is refused, so no trained epoch is ever lost. Then
// checks that the directory can be written to (check_writable_dir).
void prepare_new_run_dir(const std::string& dir, bool overwrite);

// Creates `base`, or else `base-2`, `base-3`, ...: the first name that did not exist, claimed by
// the mkdir itself. Returns the name created; throws std::runtime_error when none can be.
std::string create_unique_dir(const std::string& base);

// Creates `dir` (and its parents) if needed and checks that a file can be created in it; throws
// std::runtime_error "<flag> '<dir>': <reason>" otherwise.
void check_writable_dir(const std::string& dir, const std::string& flag);

}  // namespace hsanet::train
