// The convolutions' scratch buffers: three slots (64-byte aligned, grown to the largest size
// asked for) shared by every pass of every shape. Each pass uses them only within one call, under
// the convolution lock (conv2d_context.h). What each slot holds depends on the path:
//   slot 0  the input side: a Winograd primitive's blocked input (nChw16c), the sampled matrix of a
//           strided 1x1, the im2col matrix, or an own Winograd's transformed input V / dV
//   slot 1  the output side: a Winograd primitive's blocked output or dy, an own Winograd's M / dM
//   slot 2  an own Winograd's transformed weights U (when not cached) or weight gradient dU
// Every hand-out of a slot gets a new generation number, so a caller that left something in a
// slot can later tell whether it is still there (the blocked dy of Conv2dBlockedGradient).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace hsanet::ops::detail {

class Conv2dScratch {
 public:
  static constexpr int kSlots = 3;

  // The slot's buffer, at least `floats` long; its previous contents are no longer anyone's.
  float* get(int slot, size_t floats);
  // Which hand-out of the slot was the last one; get and clear both move it on.
  uint64_t generation(int slot) const { return generation_[static_cast<size_t>(slot)]; }
  // Frees every buffer.
  void clear();

 private:
  struct Free { void operator()(float* p) const; };
  struct Buffer {
    std::unique_ptr<float, Free> data;  // [floats]
    size_t floats = 0;
  };
  std::array<Buffer, kSlots> buffers_;
  // Never reset, not even by clear: a number once handed out names one hand-out only.
  std::array<uint64_t, kSlots> generation_{};
};

}  // namespace hsanet::ops::detail
