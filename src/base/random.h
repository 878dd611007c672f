// Seeded random numbers that give the same values on every platform: SplitMix64 for state,
// Box-Muller for normals (std::normal_distribution is implementation-defined, so it is not used).
#pragma once

#include <cstdint>

namespace hsanet {

// The seed a model's initial weights come from unless one is given (models::build_model).
inline constexpr uint64_t kDefaultInitSeed = 0x5eed;

// Every module that draws initial weights takes the Rng to draw them from: there is no global one.
class Rng {
 public:
  explicit Rng(uint64_t seed = kDefaultInitSeed) : state_(seed) {}
  uint64_t next_u64();
  float uniform();                       // [0, 1)
  double uniform_double();               // [0, 1)
  float uniform(float lo, float hi);     // [lo, hi)
  float normal(float mean = 0.f, float stddev = 1.f);
  uint64_t below(uint64_t n);            // uniform integer in [0, n)
  // An independent stream derived from this seed and a key (epoch, sample, thread...).
  static Rng derive(uint64_t seed, uint64_t key_a, uint64_t key_b = 0);

 private:
  uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0.f;
};


}  // namespace hsanet
