// Small helpers for reading integers out of file headers (no alignment assumptions) and for
// writing byte values into error messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsanet::data {

inline uint32_t read_be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }
inline uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint32_t read_le16(const uint8_t* p) { return (uint32_t{p[1]} << 8) | p[0]; }
inline uint32_t read_le32(const uint8_t* p) {
  return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0];
}

// "0x1F"
inline std::string hex_byte(uint8_t b) {
  static const char digits[] = "0123456789ABCDEF";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

// The decimal product of two non-negative 64-bit numbers, exact even where the product would
// overflow int64_t (header sizes in error messages: 2^31 x 2^31 x 6 bytes does not fit).
__extension__ typedef unsigned __int128 uint128_for_messages;  // GCC and Clang; no ISO type
inline std::string product_str(uint64_t a, uint64_t b) {
  uint128_for_messages p = static_cast<uint128_for_messages>(a) * b;
  if (p == 0) return "0";
  std::string digits;
  for (; p > 0; p /= 10) digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(p % 10)));
  return digits;
}

}  // namespace hsanet::data
