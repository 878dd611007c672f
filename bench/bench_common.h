// What the kernel benchmarks share: each case registered to report the median (and spread) of 5
// repetitions in wall-clock time, and Google Benchmark's main.
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <utility>

namespace hsanet::bench {

// Registers fn(state, args...) as `name`: 5 repetitions of at least min_time seconds each,
// wall-clock time in `unit`, only the aggregates (median, mean, spread) reported.
template <class Fn, class... Args>
void register_repeated(const std::string& name, benchmark::TimeUnit unit, double min_time, Fn fn,
                       Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), fn, std::forward<Args>(args)...)
      ->Unit(unit)
      ->UseRealTime()
      ->MinTime(min_time)
      ->Repetitions(5)
      ->DisplayAggregatesOnly(true);
}

// Google Benchmark's main: reads its flags (--benchmark_filter=...) and runs what they select.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace hsanet::bench
