// The OpenMP wait policy for hsanet's programs.
//
// GNU libgomp lets a thread that reaches the end of a parallel region spin for a while before it
// sleeps. That is fastest when every thread owns a core. When anything else wants a core -- the
// data loader's worker, another process -- a spinning thread burns the time slice the other
// thread needs to finish the region, and each of a step's ~800 regions can stall for a whole
// scheduler slice: measured 2-3x slower steps on a shared 2-core machine, against ~1% slower
// with passive waiting on an idle one (docs/performance.md). So the programs default to
// OMP_WAIT_POLICY=passive. libgomp reads the variable once, when it is loaded, so the program
// sets it and runs itself again; a policy the user set is left alone.
#pragma once

#include <unistd.h>

#include <cstdlib>

namespace hsanet::apps {

inline void use_passive_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;  // the user decided (or we already did)
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);  // only returns on failure: then carry on as we are
}

}  // namespace hsanet::apps
