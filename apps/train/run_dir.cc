#include "apps/train/run_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace hsanet::train {

namespace fs = std::filesystem;

namespace {

// What a killed writer of this program leaves behind: "<file>.tmp.<pid>" (io/atomic_file.h) or
// ".write_check.<pid>" (below), from a process that no longer exists. Such a directory is as
// good as empty.
bool is_leftover(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 == name.size()) return false;
  const std::string digits = name.substr(dot + 1), stem = name.substr(0, dot);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return false;
  const bool ours = stem == ".write_check" || (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".tmp") == 0);
  return ours && ::kill(static_cast<pid_t>(std::stol(digits)), 0) != 0 && errno == ESRCH;
}

}  // namespace

RunDirContents inspect_run_dir(const std::string& dir) {
  RunDirContents c;
  std::error_code ec;
  c.exists = fs::exists(dir, ec);
  if (!c.exists) return c;
  if (!fs::is_directory(dir, ec)) {
    c.empty = false;  // a file: nothing a run may write into
    return c;
  }
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!is_leftover(it->path().filename().string())) c.empty = false;
  if (ec) throw std::runtime_error("--out '" + dir + "': cannot list it: " + ec.message());
  const fs::path d(dir);
  c.has_config = fs::exists(d / "config.json", ec);
  c.has_checkpoint = fs::exists(d / "last.safetensors", ec) || fs::exists(d / "best.safetensors", ec);
  return c;
}

void prepare_new_run_dir(const std::string& dir, bool overwrite) {
  const RunDirContents c = inspect_run_dir(dir);
  if (c.exists && !fs::is_directory(dir)) throw std::runtime_error("--out '" + dir + "' is a file, not a directory");
  if (c.has_checkpoint)
    throw std::runtime_error("'" + dir + "' already holds a run (its checkpoints); continue it with --resume " + dir +
                             " or choose another --out" + (overwrite ? " (--overwrite never replaces checkpoints)" : ""));
  if (c.has_config && !overwrite)
    throw std::runtime_error("'" + dir + "' already holds a run that completed no epoch (config.json, no checkpoint); "
                             "start it again with --resume " + dir + ", replace it with --overwrite, or choose another --out");
  if (!c.empty && !overwrite)
    throw std::runtime_error("--out '" + dir + "' is not empty and holds no run; choose an empty or new directory, or "
                             "let this run write its files there with --overwrite");
  check_writable_dir(dir, "--out");
}

std::string create_unique_dir(const std::string& base) {
  const fs::path parent = fs::path(base).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) throw std::runtime_error("cannot create '" + parent.string() + "': " + ec.message());
  for (int k = 1; k <= 1000; ++k) {
    const std::string name = k == 1 ? base : base + "-" + std::to_string(k);
    if (fs::create_directory(name, ec)) return name;  // false: it existed (someone else's)
    if (ec) throw std::runtime_error("cannot create the run directory '" + name + "': " + ec.message());
  }
  throw std::runtime_error("cannot find a free run directory name after '" + base + "-1000'; give --out");
}

void check_writable_dir(const std::string& dir, const std::string& flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(flag + " '" + dir + "': cannot create the directory: " + ec.message());
  if (!fs::is_directory(dir)) throw std::runtime_error(flag + " '" + dir + "' is not a directory");
  const std::string probe = dir + "/.write_check." + std::to_string(static_cast<long>(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error(flag + " '" + dir + "': cannot write in it: " + std::system_category().message(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace hsanet::train
