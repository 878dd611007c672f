// Helpers shared by the cpu_train tests: a temporary folder, a few classes of the bundled faces,
// and cpu_train run in-process with its output captured.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/train/trainer.h"

namespace hsanet::train::testing {

namespace fs = std::filesystem;

// A fresh folder under the system's temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hsanet_train_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string source_dir() {
  const char* s = std::getenv("HSANET_SOURCE_DIR");
  return s ? s : ".";
}

// Copies the first `classes` identities (s1, s10, s11, ... in name order) of the bundled ORL
// faces into `dest`; returns dest.
inline std::string copy_faces(const std::string& dest, int classes) {
  const fs::path root = fs::path(source_dir()) / "data" / "orl_faces";
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  if (static_cast<int>(dirs.size()) < classes) throw std::runtime_error("the bundled faces are missing");
  for (int c = 0; c < classes; ++c) {
    fs::create_directories(fs::path(dest) / dirs[c].filename());
    for (const auto& f : fs::directory_iterator(dirs[c]))
      fs::copy_file(f.path(), fs::path(dest) / dirs[c].filename() / f.path().filename());
  }
  return dest;
}

struct RunResult {
  int code = -1;
  std::string out, err;
};

// cpu_train with these arguments, in this process, not on a terminal.
inline RunResult run_cpu_train(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"cpu_train"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  RunResult r;
  r.code = cpu_train_main(static_cast<int>(argv.size()), argv.data(), out, err, /*tty=*/false);
  r.out = out.str();
  r.err = err.str();
  return r;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A tiny network at a tiny size: a training step takes milliseconds.
inline std::vector<std::string> tiny_model_args() {
  return {"--width-mult", "0.125", "--blocks", "1", "1", "1", "1", "--img-size", "32"};
}

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace hsanet::train::testing
