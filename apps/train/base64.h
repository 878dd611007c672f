// Base64 (RFC 4648, standard alphabet, '=' padding), for images embedded in HTML as data URIs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hsanet::train {

std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(const std::string& bytes) {
  return base64_encode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace hsanet::train
