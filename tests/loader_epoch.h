// Test helper: every batch a DataLoader gives for one epoch, in order.
#pragma once

#include <utility>
#include <vector>

#include "data/loader.h"

namespace hsanet::data::testing {

inline std::vector<Batch> run_epoch(DataLoader& loader, int epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(std::move(b));
  return out;
}

}  // namespace hsanet::data::testing
