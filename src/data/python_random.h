// PythonRandom: the Mersenne Twister exactly as CPython's random.Random(int) seeds and uses it,
// so that a split drawn here holds the same files as the PyTorch reference's split for the same
// seed (train_torch.py: random.Random(seed), then rng.shuffle(files) per class).
//
// Reproduced: seeding from a non-negative integer (init_by_array over its 32-bit words),
// getrandbits(k) for k <= 32, randbelow(n) by rejection on bit_length(n) bits, and shuffle().
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace hsanet::data {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed);
  uint32_t next_u32();             // genrand_uint32
  uint32_t getrandbits(int k);     // 1 <= k <= 32
  uint64_t randbelow(uint64_t n);  // n >= 1, n < 2^32
  // random.shuffle(x): for i from len-1 down to 1, swap x[i] with x[randbelow(i + 1)].
  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) std::swap(x[i], x[randbelow(i + 1)]);
  }

 private:
  static constexpr int kN = 624;
  uint32_t mt_[kN];
  int index_ = kN;
};

}  // namespace hsanet::data
