#include "ops/conv2d_scratch.h"

#include <cstdlib>
#include <new>

namespace hsanet::ops::detail {

void Conv2dScratch::Free::operator()(float* p) const { std::free(p); }

float* Conv2dScratch::get(int slot, size_t floats) {
  const auto i = static_cast<size_t>(slot);
  ++generation_[i];
  Buffer& b = buffers_[i];
  if (b.floats < floats) {
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    b.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!b.data) throw std::bad_alloc();
    b.floats = floats;
  }
  return b.data.get();
}

void Conv2dScratch::clear() {
  for (size_t i = 0; i < buffers_.size(); ++i) {
    buffers_[i] = Buffer{};
    ++generation_[i];
  }
}

}  // namespace hsanet::ops::detail
