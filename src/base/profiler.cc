#include "base/profiler.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace hsanet {

namespace {
thread_local Profiler* g_profiler = nullptr;
thread_local ProfileRegion* g_region = nullptr;

double now_wall() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double now_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
}  // namespace

Profiler::Profiler(bool by_shape) : previous_(g_profiler), by_shape_(by_shape) { g_profiler = this; }
Profiler::~Profiler() { g_profiler = previous_; }
Profiler* Profiler::active() { return g_profiler; }

void Profiler::add(const std::string& key, double wall, double cpu) {
  Entry& e = entries_[key];
  e.wall += wall;
  e.cpu += cpu;
  e.calls++;
}

std::string Profiler::report() const {
  std::vector<std::pair<std::string, Entry>> rows(entries_.begin(), entries_.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.wall > b.second.wall; });
  double total = 0;
  for (auto& [k, e] : rows) total += e.wall;
  int width = 36;
  for (auto& [k, e] : rows) width = std::max(width, static_cast<int>(k.size()));
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %8s %10s %7s %10s\n", width, "phase/op", "calls", "wall ms",
                "share", "cpu ms");
  out += line;
  for (auto& [k, e] : rows) {
    std::snprintf(line, sizeof line, "%-*.*s %8lld %10.1f %6.1f%% %10.1f\n", width, 400, k.c_str(),
                  e.calls, e.wall * 1e3, total > 0 ? 100.0 * e.wall / total : 0.0, e.cpu * 1e3);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-*s %8s %10.1f\n", width, "total", "", total * 1e3);
  return out + line;
}

ProfileRegion::ProfileRegion(const char* phase, const std::string& name) : prof_(g_profiler) {
  if (!prof_) return;
  key_ = std::string(phase) + " " + name;
  parent_ = g_region;
  g_region = this;
  wall0_ = now_wall();
  cpu0_ = now_cpu();
}

ProfileRegion::~ProfileRegion() {
  if (!prof_) return;
  const double wall = now_wall() - wall0_, cpu = now_cpu() - cpu0_;
  prof_->add(key_, wall - child_wall_, cpu - child_cpu_);
  g_region = parent_;
  if (parent_) {
    parent_->child_wall_ += wall;
    parent_->child_cpu_ += cpu;
  }
}

}  // namespace hsanet
