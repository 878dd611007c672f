// The OpenMP wait policy for hsanet's programs.
//
// GNU libgomp lets a thread that reaches the end of a parallel region spin for a while before it
// sleeps: by default about 300,000 spin iterations (milliseconds), or none with
// OMP_WAIT_POLICY=passive. A training step has ~800 regions, many of them back to back.
//   - Spinning long is fastest when every thread owns a core, but when anything else wants one
//     -- the data loader's worker, another process -- the spinning thread burns the time slice
//     its partner needs to finish the region: ResNet-50's step measured 2.38 s against 0.84 s
//     passive with one busy process beside it on a 2-core machine.
//   - Not spinning at all costs a futex wake-up at nearly every region: 446 ms against 413 ms
//     with libgomp's default spin on the idle machine.
//   - A short spin (GOMP_SPINCOUNT=2000, microseconds) catches most back-to-back regions and
//     gives the core up before a time slice is lost: 427 ms idle, 0.85 s beside a busy process
//     (docs/performance.md).
// So the programs default to OMP_WAIT_POLICY=passive with GOMP_SPINCOUNT=2000. libgomp reads the
// variables once, when it is loaded, so the program sets them and runs itself again; if the
// user set either, both are left alone.
#pragma once

#include <unistd.h>

#include <cstdlib>

namespace hsanet::cli {

constexpr const char* kDefaultSpinCount = "2000";

inline void use_short_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr)
    return;  // the user decided (or we already did)
  setenv("OMP_WAIT_POLICY", "passive", 1);
  setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 1);
  execv("/proc/self/exe", argv);  // only returns on failure: then carry on as we are
}

}  // namespace hsanet::cli
