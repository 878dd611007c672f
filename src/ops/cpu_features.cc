#include "ops/parallel.h"

namespace hsanet::ops {

int num_threads() { return omp_get_max_threads(); }

// oneDNN (built on OpenMP here) follows omp_set_num_threads, so one call sets both.
void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

}  // namespace hsanet::ops
