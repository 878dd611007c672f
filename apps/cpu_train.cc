// cpu_train: trains a face-identity network on an image folder and reports as the paper does.
// Everything lives in the hsanet_train library (apps/train/); see docs/training.md.
#include <unistd.h>

#include <iostream>

#include "cli/openmp_policy.h"
#include "apps/train/trainer.h"

int main(int argc, char** argv) {
  hsanet::cli::use_short_openmp_spin(argv);  // a shared machine: see cli/openmp_policy.h
  return hsanet::train::cpu_train_main(argc, argv, std::cout, std::cerr, ::isatty(STDOUT_FILENO) != 0);
}
