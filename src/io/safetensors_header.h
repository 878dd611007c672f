// The safetensors header's JSON, parsed with our own SAX handler rather than nlohmann's callback
// parser, whose end_object walks the enclosing object's members: quadratic in the tensor count
// (a 1 MB header of 20 000 small entries took 6 s, a 4 MB one over a minute). While it builds
// the document the handler refuses, before they cost memory: duplicate keys at any level
// (nlohmann would keep the last), nesting deeper than a header can be, and arrays longer than
// any header field (a shape has at most kMaxHeaderArray dimensions).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace hsanet::io {

inline constexpr size_t kMaxHeaderArray = 64;

// Throws SafetensorsError("<source>: <reason>") for invalid JSON or any of the above.
nlohmann::json parse_header_json(const std::string& text, const std::string& source);

}  // namespace hsanet::io
