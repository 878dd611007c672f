// A small op profiler: while a Profiler is alive, module forwards (by module type, exclusive of
// their children) and backward nodes (by op name) add their wall and CPU time to a table.
//   hsanet::Profiler prof;  ...steps...;  std::cout << prof.report();
// Wall time is what a step costs; the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID) stays
// meaningful on a loaded machine when run with one thread.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace hsanet {

class Profiler {
 public:
  // by_shape: convolutions also report each geometry and pass on a line of its own
  // ("forward conv2d 64->256 1x1/1 56x56", "backward conv2d ... weights"), exclusive of the rest.
  explicit Profiler(bool by_shape = false);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  struct Entry {
    double wall = 0, cpu = 0;  // seconds
    long long calls = 0;
  };
  static Profiler* active();
  bool by_shape() const { return by_shape_; }
  void add(const std::string& key, double wall, double cpu);
  const std::map<std::string, Entry>& entries() const { return entries_; }
  // A table sorted by wall time with shares of the total.
  std::string report() const;

 private:
  std::map<std::string, Entry> entries_;
  Profiler* previous_;
  bool by_shape_ = false;
};

// Times one region into the active profiler (no-op without one). Nested regions subtract their
// time from the enclosing one, so every entry is exclusive.
class ProfileRegion {
 public:
  explicit ProfileRegion(const char* phase, const std::string& name);
  ~ProfileRegion();
  ProfileRegion(const ProfileRegion&) = delete;
  ProfileRegion& operator=(const ProfileRegion&) = delete;

 private:
  Profiler* prof_;
  std::string key_;
  double wall0_ = 0, cpu0_ = 0;
  double child_wall_ = 0, child_cpu_ = 0;
  ProfileRegion* parent_ = nullptr;
};

}  // namespace hsanet
