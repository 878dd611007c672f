#include "base/random.h"

#include <cmath>

namespace hsanet {

uint64_t Rng::next_u64() {
  // SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter passed through a bijective mixer.
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double Rng::uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

float Rng::uniform() {
  // 24 random bits: every value is exactly representable and strictly below 1.
  return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f;
}

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

float Rng::normal(float mean, float stddev) {
  if (has_spare_) {
    has_spare_ = false;
    return mean + stddev * spare_;
  }
  // Box-Muller: two uniforms give two independent standard normals. u1 is kept away from 0.
  double u1 = (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53;
  double u2 = uniform_double();
  double r = std::sqrt(-2.0 * std::log(u1));
  double a = 2.0 * M_PI * u2;
  spare_ = static_cast<float>(r * std::sin(a));
  has_spare_ = true;
  return mean + stddev * static_cast<float>(r * std::cos(a));
}

uint64_t Rng::below(uint64_t n) {
  if (n == 0) return 0;
  // Rejection sampling removes the modulo bias.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = next_u64();
  } while (x >= limit);
  return x % n;
}

Rng Rng::derive(uint64_t seed, uint64_t key_a, uint64_t key_b) {
  Rng mix(seed ^ 0x243f6a8885a308d3ULL);
  uint64_t s = mix.next_u64() ^ (key_a * 0x9e3779b97f4a7c15ULL);
  Rng mix2(s);
  s = mix2.next_u64() ^ (key_b * 0xc2b2ae3d27d4eb4fULL);
  Rng mix3(s);
  return Rng(mix3.next_u64());
}

}  // namespace hsanet
