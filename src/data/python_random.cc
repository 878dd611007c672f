// MT19937 (Matsumoto and Nishimura, 1998) with the reference init_by_array seeding that CPython
// uses for integer seeds.
#include "data/python_random.h"

#include <stdexcept>

namespace hsanet::data {

PythonRandom::PythonRandom(uint64_t seed) {
  // CPython splits abs(seed) into 32-bit words, least significant first; 0 becomes the key [0].
  std::vector<uint32_t> key;
  do {
    key.push_back(static_cast<uint32_t>(seed));
    seed >>= 32;
  } while (seed != 0);

  // init_genrand(19650218)
  mt_[0] = 19650218u;
  for (int i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  // init_by_array(key)
  int i = 1;
  size_t j = 0;
  for (int k = kN > static_cast<int>(key.size()) ? kN : static_cast<int>(key.size()); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      mt_[0] = mt_[kN - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;  // non-zero initial state is assured
  index_ = kN;
}

uint32_t PythonRandom::next_u32() {
  constexpr int kM = 397;
  constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  if (index_ >= kN) {  // regenerate the whole block of kN words
    for (int k = 0; k < kN; ++k) {
      const uint32_t y = (mt_[k] & kUpper) | (mt_[(k + 1) % kN] & kLower);
      mt_[k] = mt_[(k + kM) % kN] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  // Tempering
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint32_t PythonRandom::getrandbits(int k) {
  if (k < 1 || k > 32) throw std::invalid_argument("PythonRandom::getrandbits: k must be in 1..32");
  return next_u32() >> (32 - k);
}

uint64_t PythonRandom::randbelow(uint64_t n) {
  if (n == 0 || n > 0xFFFFFFFFull) throw std::invalid_argument("PythonRandom::randbelow: n must be in 1..2^32-1");
  int bits = 0;  // n.bit_length()
  for (uint64_t v = n; v; v >>= 1) ++bits;
  uint64_t r = getrandbits(bits);
  while (r >= n) r = getrandbits(bits);
  return r;
}

}  // namespace hsanet::data
