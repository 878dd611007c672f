// A lower bound on the memory a training configuration needs, checked against the machine's
// physical memory before anything is allocated: an impossible --img-size or --batch-size is
// refused with the estimate instead of ending in std::bad_alloc or the OOM killer.
//
// The bound adds: the parameters with their gradients and optimiser state; one training batch's
// activations (torchsummary's forward/backward size, traced once at 64x64 and scaled with the
// pixel count, plus the attention logits, which grow with the square of the tokens); and the data
// loader's prefetched batches. Real use is higher (workspace, the allocator's cache), so only a
// configuration whose bound already exceeds the memory is refused.
#pragma once

#include <cstdint>
#include <string>

#include "apps/train/train_config.h"

namespace hsanet::train {

struct MemoryEstimate {
  double model_bytes = 0;        // parameters, gradients, optimiser state
  double activation_bytes = 0;   // one training batch (per process)
  double loader_bytes = 0;       // prefetched input batches
  double total() const { return model_bytes + activation_bytes + loader_bytes; }
  std::string describe() const;  // "about 12.3 GiB (model and optimiser 0.3, activations ..., input batches ...)"
};

// `processes`: the data-parallel world size (each process holds batch-size / processes images).
MemoryEstimate estimate_training_memory(const TrainConfig& cfg, int processes = 1);

// Physical memory of this machine (sysconf); 0 when unknown.
uint64_t physical_memory_bytes();

// Throws std::runtime_error with the estimate when it exceeds `available` bytes (0: no check).
void check_fits_in_memory(const TrainConfig& cfg, uint64_t available, int processes = 1);

}  // namespace hsanet::train
